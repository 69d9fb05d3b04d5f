package io.vq4j.io.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;

/**
 * {@code block_q4_K} (ggml-common.h): a super-block of 256 values in eight sub-blocks of 32;
 * fp16 {@code d} and {@code dmin}, 12 bytes holding each sub-block's 6-bit scale and min, then
 * 128 bytes of 4-bit codes; value = d·sc_j·q − dmin·m_j for a value in sub-block j. The 12
 * bytes: for j &lt; 4, byte j holds sc_j and byte j + 4 holds m_j in their low 6 bits; for
 * j ≥ 4, byte j + 4 holds the low 4 bits of sc_j (low nibble) and of m_j (high nibble), and the
 * top 2 bits of sc_j and m_j go to the top 2 bits of bytes j − 4 and j. Codes: each run of 64
 * values is 32 bytes, value l in the low nibble of byte l and value l + 32 in its high nibble.
 *
 * <p>Reference grid (ggml-quants.c, quantize_row_q4_K_ref): each sub-block gets a scale and a
 * min ≤ 0 from {@link #fitSubBlock} (weights av|x| + |x_i|, a search over 21 trial scales with a
 * least-squares refit of scale and min), the eight scales and mins are quantized to 6 bits
 * against their maxima (d = max scale / 63, dmin = max min / 63, both fp16), and every value is
 * then rounded to nearest on its sub-block's decoded grid. All in fp32 in the reference's
 * order of operations, so the bytes are the same.
 */
final class Q4K implements BlockCodec {
    static final int QK = 256;
    private static final int SUB = 32;

    @Override
    public GgmlType type() {
        return GgmlType.Q4_K;
    }

    /** ggml's nearest_int: round to nearest, ties to even, through the float 1.5·2^23 trick. */
    static int nearestInt(float v) {
        return (Float.floatToRawIntBits(v + 12582912.f) & 0x007fffff) - 0x00400000;
    }

    @Override
    public BlockGrid fit(float[] x, int off) {
        return fit(x, off, new int[QK]);
    }

    /** The reference grid; {@code codes} gets the sub-block fits' own codes (kept where a scale rounds to 0). */
    private static BlockGrid fit(float[] x, int off, int[] codes) {
        float[] scales = new float[8];
        float[] mins = new float[8];
        float[] weights = new float[SUB];
        float maxScale = 0;
        float maxMin = 0;
        for (int j = 0; j < 8; j++) {
            int o = off + SUB * j;
            float sumX2 = 0;
            for (int l = 0; l < SUB; l++) {
                sumX2 += x[o + l] * x[o + l];
            }
            float avX = (float) Math.sqrt(sumX2 / 32);
            for (int l = 0; l < SUB; l++) {
                weights[l] = avX + Math.abs(x[o + l]);
            }
            float[] sm = fitSubBlock(x, o, weights, codes, SUB * j);
            scales[j] = sm[0];
            mins[j] = sm[1];
            if (scales[j] > maxScale) {
                maxScale = scales[j];
            }
            if (mins[j] > maxMin) {
                maxMin = mins[j];
            }
        }
        float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
        float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
        int[] sub = new int[16];
        for (int j = 0; j < 8; j++) {
            // the reference stores nearest_int into a uint8_t before capping at 63
            sub[j] = Math.min(63, nearestInt(invScale * scales[j]) & 0xFF);
            sub[8 + j] = Math.min(63, nearestInt(invMin * mins[j]) & 0xFF);
        }
        return new BlockGrid(Float.floatToFloat16(maxScale / 63.f), Float.floatToFloat16(maxMin / 63.f), Float.NaN,
                Float.NaN, sub);
    }

    /**
     * make_qkx2_quants(32, 15, x, weights, L, &amp;the_min, Laux, −1, 0.1, 20, false): returns
     * {scale, −min} of one sub-block and writes its codes to {@code codes[at, at + 32)}.
     */
    private static float[] fitSubBlock(float[] x, int o, float[] w, int[] codes, int at) {
        final int n = SUB;
        final int nmax = 15;
        float min = x[o];
        float max = x[o];
        float sumW = w[0];
        float sumX = sumW * x[o];
        for (int i = 1; i < n; i++) {
            if (x[o + i] < min) {
                min = x[o + i];
            }
            if (x[o + i] > max) {
                max = x[o + i];
            }
            sumW += w[i];
            sumX += w[i] * x[o + i];
        }
        if (min > 0) {
            min = 0;
        }
        if (max == min) {
            for (int i = 0; i < n; i++) {
                codes[at + i] = 0;
            }
            return new float[] {0.f, -min};
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++) {
            int l = Math.clamp(nearestInt(iscale * (x[o + i] - min)), 0, nmax);
            codes[at + i] = l;
            float diff = scale * l + min - x[o + i];
            bestError += w[i] * (diff * diff);
        }
        int[] aux = new int[n];
        for (int is = 0; is <= 20; is++) {
            iscale = (-1.f + 0.1f * is + nmax) / (max - min);
            float sumL = 0;
            float sumL2 = 0;
            float sumXL = 0;
            for (int i = 0; i < n; i++) {
                int l = Math.clamp(nearestInt(iscale * (x[o + i] - min)), 0, nmax);
                aux[i] = l;
                sumL += w[i] * l;
                sumL2 += w[i] * l * l;
                sumXL += w[i] * l * x[o + i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0) {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * aux[i] + thisMin - x[o + i];
                    curError += w[i] * (diff * diff);
                }
                if (curError < bestError) {
                    System.arraycopy(aux, 0, codes, at, n);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        return new float[] {scale, -min};
    }

    @Override
    public int code(BlockGrid g, int j, float v) {
        int s = j / SUB;
        float d = g.scale() * g.sub()[s];
        if (d == 0) {
            return 0; // every code decodes to −dmin·m here
        }
        float dm = g.offset() * g.sub()[8 + s];
        return Math.clamp(nearestInt((v + dm) / d), 0, 15);
    }

    @Override
    public float value(BlockGrid g, int j, int q) {
        int s = j / SUB;
        float d1 = g.scale() * g.sub()[s];
        float m1 = g.offset() * g.sub()[8 + s];
        return d1 * q - m1;
    }

    /** The reference quantization, which keeps a sub-block's own fit codes where its 6-bit scale is 0. */
    @Override
    public void quantize(float[] x, int off, ByteBuffer out) {
        int[] codes = new int[QK];
        BlockGrid g = fit(x, off, codes);
        for (int j = 0; j < QK; j++) {
            if (g.scale() * g.sub()[j / SUB] != 0) {
                codes[j] = code(g, j, x[off + j]);
            }
        }
        write(g, codes, out);
    }

    @Override
    public void write(BlockGrid g, int[] codes, ByteBuffer out) {
        out.putShort(g.d());
        out.putShort(g.m());
        byte[] s = new byte[12];
        int[] sub = g.sub();
        for (int j = 0; j < 8; j++) {
            int ls = sub[j];
            int lm = sub[8 + j];
            if (j < 4) {
                s[j] |= (byte) ls;
                s[j + 4] |= (byte) lm;
            } else {
                s[j + 4] = (byte) ((ls & 0xF) | (lm & 0xF) << 4);
                s[j - 4] |= (byte) ((ls >> 4) << 6);
                s[j] |= (byte) ((lm >> 4) << 6);
            }
        }
        out.put(s);
        for (int c = 0; c < QK; c += 64) {
            for (int l = 0; l < 32; l++) {
                out.put((byte) ((codes[c + l] & 0xF) | (codes[c + l + 32] & 0xF) << 4));
            }
        }
    }

    @Override
    public BlockGrid grid(MemorySegment in, long offset) {
        int[] sub = new int[16];
        long q = offset + 4;
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                sub[j] = u8(in, q + j) & 63;
                sub[8 + j] = u8(in, q + j + 4) & 63;
            } else {
                sub[j] = (u8(in, q + j + 4) & 0xF) | (u8(in, q + j - 4) >> 6) << 4;
                sub[8 + j] = (u8(in, q + j + 4) >> 4) | (u8(in, q + j) >> 6) << 4;
            }
        }
        return new BlockGrid(in.get(Q80.HALF, offset), in.get(Q80.HALF, offset + 2), Float.NaN, Float.NaN, sub);
    }

    @Override
    public int code(MemorySegment in, long offset, int j) {
        int b = u8(in, offset + 16 + (j / 64) * 32 + (j & 31));
        return (j & 63) < 32 ? b & 0xF : b >> 4;
    }

    private static int u8(MemorySegment in, long at) {
        return in.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
    }
}
