package io.vq4j.kernels.packed;

/** Along which dimension a sub-vector of d weights of a vector segment runs. */
public enum Axis {
    /** d consecutive columns of one row (GPTVQ, naive k-means VQ). */
    IN,
    /** d consecutive rows of one column (VPTQ). */
    OUT
}
