package io.vq4j.io.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * {@code block_q8_0}: fp16 scale d, then 32 int8 codes; value = q·d. Reference grid
 * (quantize_row_q8_0_ref): d = max|x| / 127, codes round(x / d) half away from zero.
 */
final class Q80 implements BlockCodec {
    static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Override
    public GgmlType type() {
        return GgmlType.Q8_0;
    }

    @Override
    public BlockGrid fit(float[] x, int off) {
        float amax = 0f;
        for (int j = 0; j < 32; j++) {
            amax = Math.max(amax, Math.abs(x[off + j]));
        }
        float d = amax / 127;
        return new BlockGrid(Float.floatToFloat16(d), (short) 0, d != 0 ? 1.0f / d : 0.0f, 0f, null);
    }

    @Override
    public int code(BlockGrid g, int j, float v) {
        return Math.clamp(roundHalfAway(v * g.inverse()), -128, 127);
    }

    /** C's roundf: to nearest, halves away from zero (exact: a float plus 0.5 is exact in double). */
    static int roundHalfAway(float x) {
        int r = (int) Math.floor(Math.abs((double) x) + 0.5);
        return x < 0 ? -r : r;
    }

    @Override
    public float value(BlockGrid g, int j, int q) {
        return q * g.scale();
    }

    @Override
    public void write(BlockGrid g, int[] codes, ByteBuffer out) {
        out.putShort(g.d());
        for (int j = 0; j < 32; j++) {
            out.put((byte) codes[j]);
        }
    }

    @Override
    public BlockGrid grid(MemorySegment in, long offset) {
        return new BlockGrid(in.get(HALF, offset), (short) 0, Float.NaN, 0f, null);
    }

    @Override
    public int code(MemorySegment in, long offset, int j) {
        return in.get(ValueLayout.JAVA_BYTE, offset + 2 + j);
    }
}
