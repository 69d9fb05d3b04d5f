package io.vq4j.kernels.feedback;

/**
 * The scalar quantization grid of one group of weights (rtn's and gptq's): an fp16 scale and an
 * integer zero-point. Asymmetric: scale = (max − min) / (2^b − 1), zero = round(−min / scale), the
 * range always including 0; symmetric (as GPTQ does it): scale = 2·max|w| / (2^b − 1), zero =
 * 2^(b−1). The scale is stored as fp16 and used rounded (up, so it never shrinks the range), so
 * dequantizing the stored parts gives exactly the values computed here. feedback.cl's fb_grid,
 * fb_quantize and fb_dequantize are these operations, step by step, in float (divisions correctly
 * rounded) with Java's Math.round and Float.floatToFloat16.
 */
public record ScalarGrid(float scale, int zero, int maxq) {
    public int quantize(float w) {
        return quantize(w, scale, zero, maxq);
    }

    public float dequantize(int q) {
        return dequantize(q, scale, zero);
    }

    /** The code of w on the grid (scale, zero, maxq). */
    public static int quantize(float w, float scale, int zero, int maxq) {
        return Math.max(0, Math.min(maxq, Math.round(w / scale) + zero));
    }

    public static float dequantize(int q, float scale, int zero) {
        return scale * (q - zero);
    }

    /** The grid of w[from, to) at {@code bits} bits; refused when its scale is outside the fp16 range. */
    public static ScalarGrid of(float[] w, int from, int to, int bits, boolean symmetric) {
        int maxq = (1 << bits) - 1;
        float min = 0;
        float max = 0; // the grid always contains 0, as GPTQ's does
        for (int i = from; i < to; i++) {
            min = Math.min(min, w[i]);
            max = Math.max(max, w[i]);
        }
        if (symmetric) {
            max = Math.max(-min, max);
            min = -max;
        }
        float scale = (max - min) / maxq;
        if (scale == 0) {
            scale = 1; // an all-zero group: any scale reproduces it exactly
        }
        // fp16 storage: round up, so the stored scale never shrinks the range below [min, max]
        float h = Float.float16ToFloat(Float.floatToFloat16(scale));
        if (h < scale) {
            h = Float.float16ToFloat((short) (Float.floatToFloat16(scale) + 1));
        }
        scale = h;
        if (scale == 0 || Float.isInfinite(scale)) {
            throw outsideFp16((max - min) / maxq);
        }
        int zero = symmetric ? (maxq + 1) / 2 : Math.round(-min / scale);
        return new ScalarGrid(scale, Math.max(0, Math.min(maxq, zero)), maxq);
    }

    /** The error of a group whose scale (before fp16 rounding) is {@code scale}. */
    public static IllegalArgumentException outsideFp16(float scale) {
        return new IllegalArgumentException("group scale " + scale + " is outside the fp16 range");
    }
}
