package io.vq4j.kernels.packed;

import io.vq4j.core.Parallel;

/**
 * Indices of any width 1–16 bits packed densely, little-endian bit order: index i occupies
 * bits [i·w, (i+1)·w) of the stream, bit b of the stream being bit (b mod 8) of byte b / 8.
 * A 12-bit index costs exactly 12 bits; the stream is padded with zero bits to a whole byte.
 */
public final class BitPacking {
    /** Runs of 8 values below which a chunk is not worth a thread. */
    private static final int PARALLEL_RUNS = 1 << 15;

    private BitPacking() {
    }

    public static long packedBytes(long count, int width) {
        checkWidth(width);
        return (count * width + 7) / 8;
    }

    /**
     * The values packed. A run of 8 values is {@code width} whole bytes, so runs of them are packed in
     * parallel chunks, each into its own bytes, and the bytes do not depend on the thread count.
     */
    public static byte[] pack(int[] values, int width) {
        checkWidth(width);
        byte[] out = new byte[Math.toIntExact(packedBytes(values.length, width))];
        int runs = values.length / 8;
        try {
            Parallel.forChunks(0, runs, PARALLEL_RUNS,
                    (lo, hi) -> packRange(values, 8 * lo, 8 * hi, width, out, lo * width));
            packRange(values, 8 * runs, values.length, width, out, runs * width);
        } catch (IllegalArgumentException e) { // the first value that does not fit, whichever chunk saw one
            packRange(values, 0, values.length, width, new byte[out.length], 0);
            throw e;
        }
        return out;
    }

    /** Values [from, to) into out from byte {@code pos}, the first at bit 0 of it. */
    private static void packRange(int[] values, int from, int to, int width, byte[] out, int pos) {
        long acc = 0; // bits not yet written, lowest first
        int pending = 0;
        int limit = 1 << width;
        for (int i = from; i < to; i++) {
            int v = values[i];
            if (v < 0 || v >= limit) {
                throw new IllegalArgumentException("value " + v + " at " + i + " does not fit in " + width + " bits");
            }
            acc |= (long) v << pending;
            pending += width;
            while (pending >= 8) {
                out[pos++] = (byte) acc;
                acc >>>= 8;
                pending -= 8;
            }
        }
        if (pending > 0) {
            out[pos] = (byte) acc;
        }
    }

    /** Reads {@code count} values of {@code width} bits from the stream. */
    public static int[] unpack(byte[] packed, int count, int width) {
        return unpack(packed, 0, count, width);
    }

    /** Reads {@code count} values of {@code width} bits from the stream that starts at byte {@code at}. */
    public static int[] unpack(byte[] packed, int at, int count, int width) {
        checkWidth(width);
        if (packed.length - at < packedBytes(count, width)) {
            throw new IllegalArgumentException((packed.length - at) + " bytes hold fewer than " + count + " values of "
                    + width + " bits");
        }
        int[] out = new int[count];
        int runs = count / 8;
        Parallel.forChunks(0, runs, PARALLEL_RUNS,
                (lo, hi) -> unpackRange(packed, at + lo * width, out, 8 * lo, 8 * hi, width));
        unpackRange(packed, at + runs * width, out, 8 * runs, count, width);
        return out;
    }

    /** Values [from, to) of out from the stream at byte {@code pos}, the first at bit 0 of it. */
    private static void unpackRange(byte[] packed, int pos, int[] out, int from, int to, int width) {
        int mask = (1 << width) - 1;
        long acc = 0;
        int have = 0;
        for (int i = from; i < to; i++) {
            while (have < width) {
                acc |= (long) (packed[pos++] & 0xff) << have;
                have += 8;
            }
            out[i] = (int) acc & mask;
            acc >>>= width;
            have -= width;
        }
    }

    /** The value at {@code index}, read directly (for kernels that decode on the fly). */
    public static int get(byte[] packed, long index, int width) {
        long bit = index * width;
        int b = (int) (bit >>> 3);
        int shift = (int) (bit & 7);
        int word = 0;
        for (int k = 0; k < 3 && b + k < packed.length; k++) { // width + shift <= 23 bits: three bytes
            word |= (packed[b + k] & 0xff) << (8 * k);
        }
        return (word >>> shift) & ((1 << width) - 1);
    }

    private static void checkWidth(int width) {
        if (width < 1 || width > 16) {
            throw new IllegalArgumentException("index width must be 1..16 bits, got " + width);
        }
    }
}
