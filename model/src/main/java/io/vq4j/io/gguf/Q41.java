package io.vq4j.io.gguf;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * {@code block_q4_1}: fp16 scale d, fp16 minimum m, then the 16 nibble bytes of q4_0;
 * value = q·d + m. Reference grid (quantize_row_q4_1_ref): m = min, d = (max − min) / 15;
 * codes trunc((x − min) / d + 0.5) capped at 15, with the fp32 min and 1/d.
 */
final class Q41 implements BlockCodec {
    @Override
    public GgmlType type() {
        return GgmlType.Q4_1;
    }

    @Override
    public BlockGrid fit(float[] x, int off) {
        float min = Float.MAX_VALUE;
        float max = -Float.MAX_VALUE;
        for (int j = 0; j < 32; j++) {
            float v = x[off + j];
            if (v < min) {
                min = v;
            }
            if (v > max) {
                max = v;
            }
        }
        float d = (max - min) / 15;
        return new BlockGrid(Float.floatToFloat16(d), Float.floatToFloat16(min), d != 0 ? 1.0f / d : 0.0f, min,
                null);
    }

    @Override
    public int code(BlockGrid g, int j, float v) {
        return Math.clamp((int) ((v - g.min()) * g.inverse() + 0.5f), 0, 15);
    }

    @Override
    public float value(BlockGrid g, int j, int q) {
        return q * g.scale() + g.offset();
    }

    @Override
    public void write(BlockGrid g, int[] codes, ByteBuffer out) {
        out.putShort(g.d());
        out.putShort(g.m());
        Q40.Nibbles.write(codes, out);
    }

    @Override
    public BlockGrid grid(MemorySegment in, long offset) {
        return new BlockGrid(in.get(Q80.HALF, offset), in.get(Q80.HALF, offset + 2), Float.NaN, Float.NaN, null);
    }

    @Override
    public int code(MemorySegment in, long offset, int j) {
        return Q40.Nibbles.read(in, offset + 4, j);
    }
}
