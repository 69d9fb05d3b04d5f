package io.vq4j.io.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * {@code block_q5_0}: fp16 scale d, a little-endian uint32 {@code qh} whose bit j is the fifth
 * bit of code j, then 16 bytes of low nibbles (byte j: code j low, code j + 16 high);
 * value = (q − 16)·d. Reference grid (quantize_row_q5_0_ref): as q4_0 with 32 levels, the value
 * of largest magnitude (first on ties) maps to −16: d = max / −16; codes trunc(x / d + 16.5)
 * capped at 31. llama.cpp stores q4_K tensors whose rows are not whole 256-value super-blocks
 * in this type.
 */
final class Q50 implements BlockCodec {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED
            .withOrder(ByteOrder.LITTLE_ENDIAN);

    @Override
    public GgmlType type() {
        return GgmlType.Q5_0;
    }

    @Override
    public BlockGrid fit(float[] x, int off) {
        return Q40.signedMaxFit(x, off, 16);
    }

    @Override
    public int code(BlockGrid g, int j, float v) {
        return Math.clamp((int) (v * g.inverse() + 16.5f), 0, 31);
    }

    @Override
    public float value(BlockGrid g, int j, int q) {
        return (q - 16) * g.scale();
    }

    @Override
    public void write(BlockGrid g, int[] codes, ByteBuffer out) {
        out.putShort(g.d());
        int qh = 0;
        for (int j = 0; j < 32; j++) {
            qh |= (codes[j] >>> 4 & 1) << j;
        }
        out.putInt(qh);
        Q40.Nibbles.write(codes, out);
    }

    @Override
    public BlockGrid grid(MemorySegment in, long offset) {
        return new BlockGrid(in.get(Q80.HALF, offset), (short) 0, Float.NaN, 0f, null);
    }

    @Override
    public int code(MemorySegment in, long offset, int j) {
        int qh = in.get(U32, offset + 2);
        return Q40.Nibbles.read(in, offset + 6, j) | (qh >>> j & 1) << 4;
    }
}
