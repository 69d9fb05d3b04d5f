package io.vq4j.quant.core;

import io.vq4j.kernels.feedback.ScalarGrid;

/**
 * Scalar round-to-nearest with per-row groups of g consecutive input columns. Asymmetric:
 * scale = (max − min) / (2^b − 1) and an integer zero-point round(−min / scale), the range
 * always including 0; symmetric (as GPTQ does it): scale = 2·max|w| / (2^b − 1), zero = 2^(b−1).
 * Scales are stored as fp16 and used rounded, so dequantizing the stored parts gives exactly
 * the values this class computes.
 */
public final class Rtn {
    private Rtn() {
    }

    /**
     * @param codes  rows×cols integers in [0, 2^bits)
     * @param scales rows×groups, fp16-representable
     * @param zeros  rows×groups integer zero-points
     */
    public record Quantized(int rows, int cols, int bits, int groupSize, int[] codes, float[] scales, int[] zeros) {
        public int groups() {
            return (cols + groupSize - 1) / groupSize;
        }

        public float[] dequantize() {
            float[] w = new float[rows * cols];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    int g = r * groups() + c / groupSize;
                    w[r * cols + c] = scales[g] * (codes[r * cols + c] - zeros[g]);
                }
            }
            return w;
        }
    }

    /** Grid of one group: its fp16 scale and zero-point ({@link ScalarGrid}'s arithmetic). */
    public record Grid(float scale, int zero, int maxq) {
        public int quantize(float w) {
            return ScalarGrid.quantize(w, scale, zero, maxq);
        }

        public float dequantize(int q) {
            return ScalarGrid.dequantize(q, scale, zero);
        }
    }

    public static Grid grid(float[] w, int from, int to, int bits, boolean symmetric) {
        ScalarGrid g = ScalarGrid.of(w, from, to, bits, symmetric);
        return new Grid(g.scale(), g.zero(), g.maxq());
    }

    public static Quantized quantize(float[] w, int rows, int cols, int bits, int groupSize, boolean symmetric) {
        if (bits < 1 || bits > 16) {
            throw new IllegalArgumentException("bits must be 1..16, got " + bits);
        }
        int g = groupSize <= 0 ? cols : groupSize;
        int groups = (cols + g - 1) / g;
        int[] codes = new int[rows * cols];
        float[] scales = new float[rows * groups];
        int[] zeros = new int[rows * groups];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < groups; k++) {
                int from = r * cols + k * g;
                int to = r * cols + Math.min(cols, (k + 1) * g);
                Grid grid = grid(w, from, to, bits, symmetric);
                scales[r * groups + k] = grid.scale();
                zeros[r * groups + k] = grid.zero();
                for (int i = from; i < to; i++) {
                    codes[i] = grid.quantize(w[i]);
                }
            }
        }
        return new Quantized(rows, cols, bits, g, codes, scales, zeros);
    }
}
