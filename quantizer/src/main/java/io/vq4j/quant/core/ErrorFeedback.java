package io.vq4j.quant.core;

import io.vq4j.kernels.feedback.GptqBlock;
import io.vq4j.quant.method.LayerProblem;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.Comparator;

/**
 * The pieces of GPTQ's error feedback that gptq and gptvq share (Frantar et al. 2022; the
 * GPTVQ paper's Algorithm 1): the lazy batch update of the columns after a block, and the
 * column order by decreasing diag H (gptq's act-order, vptq's permutation and outliers).
 */
public final class ErrorFeedback {
    private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
    /** As many float lanes as DS has double lanes, for the D2F conversion. */
    private static final VectorSpecies<Float> FS = VectorSpecies.of(float.class,
            VectorShape.forBitSize(DS.vectorBitSize() / 2));

    private ErrorFeedback() {
    }

    /** {@link GptqBlock#subtractScaled}: w[wo + i] −= (float) (e · u[uo + i]) for i &lt; n. */
    public static void subtractScaled(float[] w, int wo, float e, double[] u, int uo, int n) {
        GptqBlock.subtractScaled(w, wo, e, u, uo, n);
    }

    /**
     * GPTVQ's in-block feedback of d columns' errors along a row: for i &lt; n,
     * w[wo + i] −= (float) Σ_t e[t] · u[uo + t·ldu + i], the sum in double over t = 0..d−1 in
     * order from 0 (a multiply, then an add: no fused multiply-add), lane by lane, so the bits are
     * those of {@link #subtractCombinationScalar}.
     */
    public static void subtractCombination(float[] w, int wo, double[] e, int d, double[] u, int uo, int ldu, int n) {
        int i = 0;
        int step = DS.length();
        int bound = DS.loopBound(Math.max(0, n));
        for (; i < bound; i += step) {
            DoubleVector acc = DoubleVector.zero(DS);
            for (int t = 0; t < d; t++) {
                acc = acc.add(DoubleVector.fromArray(DS, u, uo + t * ldu + i).mul(e[t]));
            }
            FloatVector upd = (FloatVector) acc.convertShape(VectorOperators.D2F, FS, 0);
            FloatVector.fromArray(FS, w, wo + i).sub(upd).intoArray(w, wo + i);
        }
        for (; i < n; i++) {
            double upd = 0;
            for (int t = 0; t < d; t++) {
                upd += e[t] * u[uo + t * ldu + i];
            }
            w[wo + i] -= (float) upd;
        }
    }

    /** The scalar reference of {@link #subtractCombination} (gptvq's loop as it was). */
    public static void subtractCombinationScalar(float[] w, int wo, double[] e, int d, double[] u, int uo, int ldu,
                                                 int n) {
        for (int i = 0; i < n; i++) {
            double upd = 0;
            for (int t = 0; t < d; t++) {
                upd += e[t] * u[uo + t * ldu + i];
            }
            w[wo + i] -= (float) upd;
        }
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
