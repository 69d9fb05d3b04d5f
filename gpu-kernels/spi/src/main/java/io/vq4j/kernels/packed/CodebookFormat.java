package io.vq4j.kernels.packed;

/**
 * How a stage's codebook is stored in the packed file. The matrix itself always holds the
 * values the codes stand for (as floats); the format says how the file writes them.
 */
public enum CodebookFormat {
    /** fp16 values. */
    F16,
    /** int8 codes with one fp16 scale per codebook group (symmetric): c = code · scale. */
    INT8
}
