package io.vq4j.kernels.packed;

/**
 * Block scales as a method hands them to {@link PackedMatrixBuilder#vector}: the log-domain
 * grid (s = 2^(offset + code · step), codes of {@code bits} bits) and one code per row and run
 * of blockCols columns ({@link BlockScales} is what the matrix then holds).
 */
public record BlockScaleValues(int blockCols, int bits, float offset, float step, int[] codes) {
}
