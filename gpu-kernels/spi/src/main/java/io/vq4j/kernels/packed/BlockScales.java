package io.vq4j.kernels.packed;

/**
 * The block scales of a vector segment (GPTVQ's blockwise normalisation): one scale for each
 * row and run of blockCols columns, s = 2^(offset + code · step), codes of {@code bits} bits.
 * The matrix holds the codes (read through {@link PackedMatrix#blockScaleCodes}) and the table
 * of every code's scale, which the kernels read.
 *
 * @param codesAt byte offset of the bit-packed codes (rows × ceil(width / blockCols)) in {@link PackedMatrix#bytes()}
 * @param tableAt float offset of the 2^bits scales in {@link PackedMatrix#floats()}
 */
public record BlockScales(int blockCols, int bits, float offset, float step, int codesAt, int tableAt) {
    /** The scale a code stands for: 2^(offset + code · step), rounded once to float. */
    public static float scale(float offset, float step, int code) {
        return (float) Math.pow(2.0, offset + (double) code * step);
    }
}
