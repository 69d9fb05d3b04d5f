package io.vq4j.io.gguf;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * One ggml block type: how a block of {@link #blockSize()} values is chosen (the grid of
 * ggml-quants.c's reference quantizer), rounded onto it, laid out in bytes (ggml-common.h)
 * and decoded. The steps are separate so a quantizer with error feedback can choose codes on
 * the same grid and write them with the same layout; {@link #quantize} chains them as the
 * reference does. Byte buffers and segments are little-endian, as GGUF files are.
 */
public sealed interface BlockCodec permits Q80, Q40, Q41, Q50, Q4K, Q6K {
    GgmlType type();

    default int blockSize() {
        return type().blockSize();
    }

    /** The grid the reference quantizer picks for the block {@code x[off, off + blockSize)}. */
    BlockGrid fit(float[] x, int off);

    /**
     * The code the reference rounding gives {@code v} at position {@code j} of the block on grid
     * {@code g} (the position matters for k-quants, whose sub-blocks have their own scale and min).
     */
    int code(BlockGrid g, int j, float v);

    /** The value code {@code q} at position {@code j} of the block decodes to on grid {@code g}. */
    float value(BlockGrid g, int j, int q);

    /** Writes one block (grid and {@link #blockSize()} codes) at the buffer's position. */
    void write(BlockGrid g, int[] codes, ByteBuffer out);

    /** Reads the grid of the block at {@code offset}. */
    BlockGrid grid(MemorySegment in, long offset);

    /** Reads code {@code j} of the block at {@code offset}. */
    int code(MemorySegment in, long offset, int j);

    /** Reference quantization of one block: fit, round every value, write. */
    default void quantize(float[] x, int off, ByteBuffer out) {
        BlockGrid g = fit(x, off);
        int[] codes = new int[blockSize()];
        for (int j = 0; j < codes.length; j++) {
            codes[j] = code(g, j, x[off + j]);
        }
        write(g, codes, out);
    }

    /** Decodes the block at {@code offset} into {@code out[outOff, outOff + blockSize)}. */
    default void decode(MemorySegment in, long offset, float[] out, int outOff) {
        BlockGrid g = grid(in, offset);
        for (int j = 0; j < blockSize(); j++) {
            out[outOff + j] = value(g, j, code(in, offset, j));
        }
    }
}
