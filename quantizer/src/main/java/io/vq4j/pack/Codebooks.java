package io.vq4j.pack;

import io.vq4j.kernels.packed.CodebookFormat;

/** Rounding codebooks to their storage format, so quantizers search with the stored values. */
public final class Codebooks {
    private Codebooks() {
    }

    public static float f16(float x) {
        return Float.float16ToFloat(Float.floatToFloat16(x));
    }

    /** A copy of {@code values} rounded to fp16. */
    public static float[] f16(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = f16(values[i]);
        }
        return out;
    }

    /**
     * Rounds {@code groups} codebooks of k × d values in place to the format; returns the
     * per-group fp16 scales for INT8 (code = round(c / scale), scale = max|c| / 127 rounded up
     * in fp16), null for F16.
     */
    public static float[] round(float[] codebooks, int groups, int k, int d, CodebookFormat format) {
        if (format == CodebookFormat.F16) {
            for (int i = 0; i < codebooks.length; i++) {
                codebooks[i] = f16(codebooks[i]);
            }
            return null;
        }
        float[] scales = new float[groups];
        int size = k * d;
        for (int g = 0; g < groups; g++) {
            float max = 0f;
            for (int i = g * size; i < (g + 1) * size; i++) {
                max = Math.max(max, Math.abs(codebooks[i]));
            }
            float s = max == 0f ? 1f : f16(max / 127f);
            if (s * 127f < max) {
                s = Float.float16ToFloat((short) (Float.floatToFloat16(s) + 1));
            }
            scales[g] = s;
            for (int i = g * size; i < (g + 1) * size; i++) {
                int code = Math.max(-127, Math.min(127, Math.round(codebooks[i] / s)));
                codebooks[i] = code * s;
            }
        }
        return scales;
    }

    /** The int8 code of a rounded INT8 codebook value. */
    public static byte int8Code(float value, float scale) {
        return (byte) Math.round(value / scale);
    }
}
