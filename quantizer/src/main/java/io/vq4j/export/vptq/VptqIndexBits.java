package io.vq4j.export.vptq;

/**
 * The packed index rows of the VPTQ checkpoint format ({@code is_indice_packed: true}): per
 * codebook group and row-vector, the group_size column indices of the main stage and of the
 * residual stage merged as {@code res << mainBits | main} ({@code mainBits + resBits} bits each),
 * concatenated least significant bit first into a bit stream that is zero-padded to whole 32-bit
 * words; bit b of the stream is bit b % 32 of word b / 32 (an int32 tensor, little-endian).
 */
final class VptqIndexBits {
    private VptqIndexBits() {
    }

    /** int32 words per row of {@code count} merged indices of {@code bits} bits. */
    static int words(int count, int bits) {
        return (int) (((long) count * bits + 31) / 32);
    }

    /** Writes one row: main[from + j * stride] and res (or null) merged, into out[at .. at + words). */
    static void packRow(int[] main, int[] res, int from, int stride, int count, int mainBits, int resBits, int[] out,
                        int at) {
        int bits = mainBits + resBits;
        long bit = 0;
        for (int j = 0; j < count; j++) {
            long v = main[from + j * stride];
            if (res != null) {
                v |= (long) res[from + j * stride] << mainBits;
            }
            for (int b = 0; b < bits; b++, bit++) {
                if ((v >>> b & 1) != 0) {
                    out[at + (int) (bit >>> 5)] |= 1 << (bit & 31);
                }
            }
        }
    }

    /** Reads the merged value of entry j of a row starting at word {@code at}. */
    static long read(int[] words, int at, int j, int bits) {
        long v = 0;
        long bit = (long) j * bits;
        for (int b = 0; b < bits; b++, bit++) {
            v |= (long) (words[at + (int) (bit >>> 5)] >>> (bit & 31) & 1) << b;
        }
        return v;
    }
}
