package io.vq4j.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector-API helpers of the forward pass on row-major float arrays (the matmul is
 * {@link PackedMatmul}). Reductions run in one fixed order, so results do not depend on the
 * thread count or the JIT tier.
 */
public final class CpuKernels {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private CpuKernels() {
    }

    /** Floats per vector: the scratch size {@link #dot} needs. */
    public static int lanes() {
        return L;
    }

    /**
     * Sums the lanes in a fixed pairwise order through a scratch array. reduceLanes(ADD) leaves
     * the order of float additions open, and interpreter, C1 and C2 pick different ones, so the
     * same input could give different bits before and after warm-up; lane shuffles would fix the
     * order but are not intrinsified here and cost 10x.
     */
    static float sumLanes(FloatVector acc, float[] scratch) {
        acc.intoArray(scratch, 0);
        for (int width = L / 2; width >= 1; width >>= 1) {
            for (int i = 0; i < width; i++) {
                scratch[i] += scratch[i + width];
            }
        }
        return scratch[0];
    }

    private static float finish(FloatVector acc, float[] scratch, float[] x, int xo, float[] w, int wo, int in,
                                int bound) {
        float s = sumLanes(acc, scratch);
        for (int k = bound; k < in; k++) {
            s = Math.fma(x[xo + k], w[wo + k], s);
        }
        return s;
    }

    /**
     * Dot product in the same order as the matmul micro-kernels; {@code scratch} holds at least
     * {@link #lanes()} floats.
     */
    public static float dot(float[] a, int ao, float[] b, int bo, int n, float[] scratch) {
        FloatVector acc = FloatVector.zero(S);
        int bound = S.loopBound(n);
        for (int k = 0; k < bound; k += L) {
            acc = FloatVector.fromArray(S, a, ao + k).fma(FloatVector.fromArray(S, b, bo + k), acc);
        }
        return finish(acc, scratch, a, ao, b, bo, n, bound);
    }

    /** Plain reference: sequential FMAs. */
    public static float dotScalar(float[] a, int ao, float[] b, int bo, int n) {
        float s = 0f;
        for (int k = 0; k < n; k++) {
            s = Math.fma(a[ao + k], b[bo + k], s);
        }
        return s;
    }

    /** {@code y += a * x} over n elements. */
    public static void axpy(float a, float[] x, int xo, float[] y, int yo, int n) {
        int bound = S.loopBound(n);
        FloatVector av = FloatVector.broadcast(S, a);
        int k = 0;
        for (; k < bound; k += L) {
            FloatVector.fromArray(S, x, xo + k).fma(av, FloatVector.fromArray(S, y, yo + k)).intoArray(y, yo + k);
        }
        for (; k < n; k++) {
            y[yo + k] = Math.fma(a, x[xo + k], y[yo + k]);
        }
    }

    /** RMSNorm of n values: out = x / sqrt(mean(x^2) + eps) * g (sum of squares in double). */
    public static void rmsnorm(float[] x, int xo, float[] g, float eps, float[] out, int oo, int n) {
        double ss = 0;
        for (int k = 0; k < n; k++) {
            ss += (double) x[xo + k] * x[xo + k];
        }
        float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
        for (int k = 0; k < n; k++) {
            out[oo + k] = x[xo + k] * inv * g[k];
        }
    }
}
