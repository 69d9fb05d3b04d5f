package io.vq4j.io.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * {@code block_q6_K} (ggml-common.h): a super-block of 256 values in sixteen sub-blocks of 16;
 * 128 bytes of low nibbles {@code ql}, 64 bytes of high 2-bit pairs {@code qh}, 16 int8
 * sub-block scales, then fp16 {@code d}; value = d·sc_j·(q − 32), q in 0..63. Each half of 128
 * values is 64 ql bytes and 32 qh bytes: value 32·k + l (k = 0..3, l = 0..31) has its low
 * nibble in ql[l + 32·(k mod 2)] (low nibble for k &lt; 2, high for k ≥ 2) and its top two bits
 * in bits 2k, 2k + 1 of qh[l].
 *
 * <p>Reference grid (ggml-quants.c, quantize_row_q6_K_ref): each sub-block's scale from
 * make_qx_quants with weights x² (a search over 19 trial scales around −32 / the value of
 * largest magnitude, keeping the best weighted least-squares fit), the 16 scales quantized to
 * int8 against the one of largest magnitude (d = that / −128, fp16), then every value rounded
 * to nearest on its sub-block's decoded step d·sc_j. fp32 in the reference's order.
 */
final class Q6K implements BlockCodec {
    private static final int QK = 256;
    private static final float GROUP_MAX_EPS = 1e-15f;

    @Override
    public GgmlType type() {
        return GgmlType.Q6_K;
    }

    @Override
    public BlockGrid fit(float[] x, int off) {
        return fit(x, off, new int[QK]);
    }

    private static BlockGrid fit(float[] x, int off, int[] codes) {
        float[] scales = new float[16];
        float maxScale = 0;
        float maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++) {
            float scale = fitSubBlock(x, off + 16 * ib, codes, 16 * ib);
            scales[ib] = scale;
            float abs = Math.abs(scale);
            if (abs > maxAbsScale) {
                maxAbsScale = abs;
                maxScale = scale;
            }
        }
        int[] sub = new int[16];
        if (maxAbsScale < GROUP_MAX_EPS) {
            Arrays.fill(codes, 0); // the reference zeroes the whole block
            return new BlockGrid(Float.floatToFloat16(0f), (short) 0, Float.NaN, Float.NaN, sub);
        }
        float iscale = -128.f / maxScale;
        for (int ib = 0; ib < 16; ib++) {
            sub[ib] = (byte) Math.min(127, Q4K.nearestInt(iscale * scales[ib]));
        }
        return new BlockGrid(Float.floatToFloat16(1 / iscale), (short) 0, Float.NaN, Float.NaN, sub);
    }

    /** make_qx_quants(16, 32, x, L, rmse_type 1, NULL): the sub-block's scale; codes[at, at + 16) get L. */
    private static float fitSubBlock(float[] x, int o, int[] codes, int at) {
        final int n = 16;
        final int nmax = 32;
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[o + i]);
            if (ax > amax) {
                amax = ax;
                max = x[o + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) {
                codes[at + i] = 0;
            }
            return 0.f;
        }
        float iscale = -nmax / max;
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = Math.clamp(Q4K.nearestInt(iscale * x[o + i]), -nmax, nmax - 1);
            codes[at + i] = l + nmax;
            float w = x[o + i] * x[o + i];
            sumlx += w * x[o + i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) {
                continue;
            }
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < n; i++) {
                int l = Math.clamp(Q4K.nearestInt(iscale * x[o + i]), -nmax, nmax - 1);
                float w = x[o + i] * x[o + i];
                sumlx += w * x[o + i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    codes[at + i] = nmax + Math.clamp(Q4K.nearestInt(iscale * x[o + i]), -nmax, nmax - 1);
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    @Override
    public int code(BlockGrid g, int j, float v) {
        float d = g.scale() * g.sub()[j / 16];
        if (d == 0) {
            return 32; // every code decodes to 0 here
        }
        return Math.clamp(Q4K.nearestInt(v / d), -32, 31) + 32;
    }

    @Override
    public float value(BlockGrid g, int j, int q) {
        return g.scale() * g.sub()[j / 16] * (q - 32);
    }

    /** The reference quantization, which keeps a sub-block's own fit codes where its int8 scale is 0. */
    @Override
    public void quantize(float[] x, int off, ByteBuffer out) {
        int[] codes = new int[QK];
        BlockGrid g = fit(x, off, codes);
        for (int j = 0; j < QK; j++) {
            if (g.scale() * g.sub()[j / 16] != 0) {
                codes[j] = code(g, j, x[off + j]);
            }
        }
        write(g, codes, out);
    }

    @Override
    public void write(BlockGrid g, int[] codes, ByteBuffer out) {
        byte[] ql = new byte[128];
        byte[] qh = new byte[64];
        for (int h = 0; h < 2; h++) {
            int c = 128 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = codes[c + l] & 0xF;
                int q2 = codes[c + l + 32] & 0xF;
                int q3 = codes[c + l + 64] & 0xF;
                int q4 = codes[c + l + 96] & 0xF;
                ql[64 * h + l] = (byte) (q1 | q3 << 4);
                ql[64 * h + l + 32] = (byte) (q2 | q4 << 4);
                qh[32 * h + l] = (byte) ((codes[c + l] >> 4) | (codes[c + l + 32] >> 4) << 2
                        | (codes[c + l + 64] >> 4) << 4 | (codes[c + l + 96] >> 4) << 6);
            }
        }
        out.put(ql).put(qh);
        for (int s : g.sub()) {
            out.put((byte) s);
        }
        out.putShort(g.d());
    }

    @Override
    public BlockGrid grid(MemorySegment in, long offset) {
        int[] sub = new int[16];
        for (int j = 0; j < 16; j++) {
            sub[j] = in.get(ValueLayout.JAVA_BYTE, offset + 192 + j);
        }
        return new BlockGrid(in.get(Q80.HALF, offset + 208), (short) 0, Float.NaN, Float.NaN, sub);
    }

    @Override
    public int code(MemorySegment in, long offset, int j) {
        int h = j / 128;
        int k = (j % 128) / 32;
        int l = j % 32;
        int lo = in.get(ValueLayout.JAVA_BYTE, offset + 64L * h + l + 32L * (k & 1)) & 0xFF;
        int hi = in.get(ValueLayout.JAVA_BYTE, offset + 128 + 32L * h + l) & 0xFF;
        return (k < 2 ? lo & 0xF : lo >> 4) | ((hi >> (2 * k)) & 3) << 4;
    }
}
