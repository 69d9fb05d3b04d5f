package io.vq4j.io.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;

/**
 * {@code block_q4_0}: fp16 scale d, then 16 bytes of 4-bit codes (byte j holds code j in its
 * low nibble and code j + 16 in its high nibble); value = (q − 8)·d. Reference grid
 * (quantize_row_q4_0_ref): the value of largest magnitude, first on ties, maps to −8:
 * d = max / −8; codes trunc(x / d + 8.5) capped at 15.
 */
final class Q40 implements BlockCodec {
    @Override
    public GgmlType type() {
        return GgmlType.Q4_0;
    }

    @Override
    public BlockGrid fit(float[] x, int off) {
        return signedMaxFit(x, off, 8);
    }

    /**
     * The grid of q4_0 and q5_0 (levels −half … half − 1): the value of largest magnitude in the
     * 32, the first on ties, maps to −half, so d = max / −half.
     */
    static BlockGrid signedMaxFit(float[] x, int off, int half) {
        float amax = 0f;
        float max = 0f;
        for (int j = 0; j < 32; j++) {
            float v = x[off + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -half;
        return new BlockGrid(Float.floatToFloat16(d), (short) 0, d != 0 ? 1.0f / d : 0.0f, 0f, null);
    }

    @Override
    public int code(BlockGrid g, int j, float v) {
        // the reference's (int8_t)(x + 8.5f) truncates toward zero; the sum is ≥ 0 on its own grid
        return Math.clamp((int) (v * g.inverse() + 8.5f), 0, 15);
    }

    @Override
    public float value(BlockGrid g, int j, int q) {
        return (q - 8) * g.scale();
    }

    @Override
    public void write(BlockGrid g, int[] codes, ByteBuffer out) {
        out.putShort(g.d());
        Nibbles.write(codes, out);
    }

    @Override
    public BlockGrid grid(MemorySegment in, long offset) {
        return new BlockGrid(in.get(Q80.HALF, offset), (short) 0, Float.NaN, 0f, null);
    }

    @Override
    public int code(MemorySegment in, long offset, int j) {
        return Nibbles.read(in, offset + 2, j);
    }

    /** The 16-byte nibble array shared by q4_0 and q4_1. */
    static final class Nibbles {
        private Nibbles() {
        }

        static void write(int[] codes, ByteBuffer out) {
            for (int j = 0; j < 16; j++) {
                out.put((byte) ((codes[j] & 0x0F) | (codes[j + 16] & 0x0F) << 4));
            }
        }

        static int read(MemorySegment in, long qs, int j) {
            int b = in.get(ValueLayout.JAVA_BYTE, qs + (j & 15)) & 0xFF;
            return j < 16 ? b & 0x0F : b >>> 4;
        }
    }
}
