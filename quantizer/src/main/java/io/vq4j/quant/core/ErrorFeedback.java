package io.vq4j.quant.core;

import io.vq4j.kernels.feedback.GptqBlock;
import io.vq4j.kernels.feedback.GptvqBlock;
import io.vq4j.quant.method.LayerProblem;

import java.util.Arrays;
import java.util.Comparator;

/**
 * The pieces of GPTQ's error feedback that gptq and gptvq share (Frantar et al. 2022; the
 * GPTVQ paper's Algorithm 1): the lazy batch update of the columns after a block, and the
 * column order by decreasing diag H (gptq's act-order, vptq's permutation and outliers).
 */
public final class ErrorFeedback {
    private ErrorFeedback() {
    }

    /** {@link GptqBlock#subtractScaled}: w[wo + i] −= (float) (e · u[uo + i]) for i &lt; n. */
    public static void subtractScaled(float[] w, int wo, float e, double[] u, int uo, int n) {
        GptqBlock.subtractScaled(w, wo, e, u, uo, n);
    }

    /** {@link GptvqBlock#subtractCombination}: w[wo + i] −= (float) Σ_t e[t] · u[uo + t·ldu + i] for i &lt; n. */
    public static void subtractCombination(float[] w, int wo, double[] e, int d, double[] u, int uo, int ldu, int n) {
        GptvqBlock.subtractCombination(w, wo, e, d, u, uo, ldu, n);
    }

    /** The scalar reference of {@link #subtractCombination}. */
    public static void subtractCombinationScalar(float[] w, int wo, double[] e, int d, double[] u, int uo, int ldu,
                                                 int n) {
        GptvqBlock.subtractCombinationScalar(w, wo, e, d, u, uo, ldu, n);
    }

    /** The scalar reference of {@link #subtractScaled}. */
    public static void subtractScaledScalar(float[] w, int wo, float e, double[] u, int uo, int n) {
        GptqBlock.subtractScaledScalar(w, wo, e, u, uo, n);
    }

    /** W[:, i2:] −= Err · U[i1:i2, i2:], one gemm on the backend. */
    public static void lazyUpdate(LayerProblem p, float[] w, int rows, int cols, double[] u, float[] err, int i1,
                                  int i2) {
        int rest = cols - i2;
        if (rest == 0) {
            return;
        }
        int width = i2 - i1;
        float[] ub = new float[width * rest];
        for (int a = 0; a < width; a++) {
            for (int b = 0; b < rest; b++) {
                ub[a * rest + b] = (float) u[(i1 + a) * cols + i2 + b];
            }
        }
        float[] tail = new float[rows * rest];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(w, r * cols + i2, tail, r * rest, rest);
        }
        p.backend().gemm(false, false, rows, rest, width, -1f, err, ub, 1f, tail);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(tail, r * rest, w, r * cols + i2, rest);
        }
    }

    /**
     * Columns by decreasing diag H, ties in column order (a stable sort): perm[c] is the
     * original column placed at position c.
     */
    public static int[] orderByDiagonal(double[] h, int cols) {
        Integer[] idx = new Integer[cols];
        for (int c = 0; c < cols; c++) {
            idx[c] = c;
        }
        Arrays.sort(idx, Comparator.comparingDouble((Integer c) -> -h[c * cols + c]));
        int[] order = new int[cols];
        for (int c = 0; c < cols; c++) {
            order[c] = idx[c];
        }
        return order;
    }
}
