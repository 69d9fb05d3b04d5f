package io.vq4j.kernels.cpu;

import io.vq4j.core.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector-API kernels on row-major float arrays. Every output element is reduced in one fixed
 * order (lane-wise FMAs over the inner dimension, then a lane reduction, then the scalar tail),
 * whichever micro-kernel or thread computes it, so results do not depend on the thread count.
 */
public final class CpuKernels {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Rows of W handled per task-chunk; a multiple of the micro-kernel height. */
    private static final int W_BLOCK = 64;
    /** Rows of X swept per W block: keeps the X block in L2 while W rows stream through L1. */
    private static final int X_BLOCK = 64;

    private CpuKernels() {
    }

    /**
     * {@code y[r*out + o] = dot(x[r*in ...], w[o*in ...]) + (bias == null ? 0 : bias[o])}
     * for r in [0, rows), o in [0, out).
     */
    public static void matmulTransposed(float[] x, int rows, int in, float[] w, int out, float[] bias, float[] y) {
        if (in < L) {
            Parallel.forChunks(0, out, 16, (lo, hi) -> scalarBlock(x, rows, in, w, lo, hi, out, bias, y));
            return;
        }
        long work = (long) rows * in * out;
        int minChunk = work < 1 << 20 ? out : W_BLOCK; // small products are not worth a fork
        Parallel.forChunks(0, out, minChunk, (lo, hi) -> {
            for (int o0 = lo; o0 < hi; o0 += W_BLOCK) {
                int o1 = Math.min(hi, o0 + W_BLOCK);
                for (int r0 = 0; r0 < rows; r0 += X_BLOCK) {
                    int r1 = Math.min(rows, r0 + X_BLOCK);
                    block(x, in, w, out, bias, y, r0, r1, o0, o1);
                }
            }
        });
    }

    private static void block(float[] x, int in, float[] w, int out, float[] bias, float[] y,
                              int r0, int r1, int o0, int o1) {
        int o = o0;
        for (; o + 4 <= o1; o += 4) {
            int r = r0;
            for (; r + 4 <= r1; r += 4) {
                kernel4x4(x, in, w, out, bias, y, r, o);
            }
            for (; r < r1; r++) {
                kernel1x4(x, in, w, out, bias, y, r, o);
            }
        }
        for (; o < o1; o++) {
            for (int r = r0; r < r1; r++) {
                y[r * out + o] = dot(x, r * in, w, o * in, in) + (bias == null ? 0f : bias[o]);
            }
        }
    }

    private static void kernel4x4(float[] x, int in, float[] w, int out, float[] bias, float[] y, int r, int o) {
        int xa = r * in, xb = xa + in, xc = xb + in, xd = xc + in;
        int wa = o * in, wb = wa + in, wc = wb + in, wd = wc + in;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0;
        FloatVector d0 = a0, d1 = a0, d2 = a0, d3 = a0;
        int bound = S.loopBound(in);
        for (int k = 0; k < bound; k += L) {
            FloatVector w0 = FloatVector.fromArray(S, w, wa + k);
            FloatVector w1 = FloatVector.fromArray(S, w, wb + k);
            FloatVector w2 = FloatVector.fromArray(S, w, wc + k);
            FloatVector w3 = FloatVector.fromArray(S, w, wd + k);
            FloatVector v = FloatVector.fromArray(S, x, xa + k);
            a0 = v.fma(w0, a0);
            a1 = v.fma(w1, a1);
            a2 = v.fma(w2, a2);
            a3 = v.fma(w3, a3);
            v = FloatVector.fromArray(S, x, xb + k);
            b0 = v.fma(w0, b0);
            b1 = v.fma(w1, b1);
            b2 = v.fma(w2, b2);
            b3 = v.fma(w3, b3);
            v = FloatVector.fromArray(S, x, xc + k);
            c0 = v.fma(w0, c0);
            c1 = v.fma(w1, c1);
            c2 = v.fma(w2, c2);
            c3 = v.fma(w3, c3);
            v = FloatVector.fromArray(S, x, xd + k);
            d0 = v.fma(w0, d0);
            d1 = v.fma(w1, d1);
            d2 = v.fma(w2, d2);
            d3 = v.fma(w3, d3);
        }
        store4(a0, a1, a2, a3, x, xa, w, wa, in, bound, bias, y, r * out + o, o);
        store4(b0, b1, b2, b3, x, xb, w, wa, in, bound, bias, y, (r + 1) * out + o, o);
        store4(c0, c1, c2, c3, x, xc, w, wa, in, bound, bias, y, (r + 2) * out + o, o);
        store4(d0, d1, d2, d3, x, xd, w, wa, in, bound, bias, y, (r + 3) * out + o, o);
    }

    private static void kernel1x4(float[] x, int in, float[] w, int out, float[] bias, float[] y, int r, int o) {
        int xa = r * in;
        int wa = o * in, wb = wa + in, wc = wb + in, wd = wc + in;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int bound = S.loopBound(in);
        for (int k = 0; k < bound; k += L) {
            FloatVector v = FloatVector.fromArray(S, x, xa + k);
            a0 = v.fma(FloatVector.fromArray(S, w, wa + k), a0);
            a1 = v.fma(FloatVector.fromArray(S, w, wb + k), a1);
            a2 = v.fma(FloatVector.fromArray(S, w, wc + k), a2);
            a3 = v.fma(FloatVector.fromArray(S, w, wd + k), a3);
        }
        store4(a0, a1, a2, a3, x, xa, w, wa, in, bound, bias, y, r * out + o, o);
    }

    /** Finishes four dot products of one x row: lane reduction, then the scalar tail, then bias. */
    private static void store4(FloatVector s0, FloatVector s1, FloatVector s2, FloatVector s3,
                               float[] x, int xo, float[] w, int wo, int in, int bound,
                               float[] bias, float[] y, int yo, int o) {
        y[yo] = finish(s0, x, xo, w, wo, in, bound) + (bias == null ? 0f : bias[o]);
        y[yo + 1] = finish(s1, x, xo, w, wo + in, in, bound) + (bias == null ? 0f : bias[o + 1]);
        y[yo + 2] = finish(s2, x, xo, w, wo + 2 * in, in, bound) + (bias == null ? 0f : bias[o + 2]);
        y[yo + 3] = finish(s3, x, xo, w, wo + 3 * in, in, bound) + (bias == null ? 0f : bias[o + 3]);
    }

    /**
     * Sums the lanes by a fixed butterfly (lane i += lane i+h for h = L/2 .. 1). reduceLanes(ADD)
     * leaves the order of float additions open, and interpreter, C1 and C2 may pick different
     * ones, so the same input could give different bits before and after warm-up.
     */
    static float sumLanes(FloatVector acc) {
        FloatVector v = acc;
        for (VectorShuffle<Float> rotate : HALVES) {
            v = v.add(v.rearrange(rotate));
        }
        return v.lane(0);
    }

    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Float>[] HALVES = java.util.stream.IntStream
            .iterate(L / 2, h -> h >= 1, h -> h / 2)
            .mapToObj(h -> VectorShuffle.fromOp(S, i -> (i + h) % L))
            .toArray(VectorShuffle[]::new);

    private static float finish(FloatVector acc, float[] x, int xo, float[] w, int wo, int in, int bound) {
        float s = sumLanes(acc);
        for (int k = bound; k < in; k++) {
            s = Math.fma(x[xo + k], w[wo + k], s);
        }
        return s;
    }

    /** Dot product in the same order as the matmul micro-kernels. */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector acc = FloatVector.zero(S);
        int bound = S.loopBound(n);
        for (int k = 0; k < bound; k += L) {
            acc = FloatVector.fromArray(S, a, ao + k).fma(FloatVector.fromArray(S, b, bo + k), acc);
        }
        return finish(acc, a, ao, b, bo, n, bound);
    }

    private static void scalarBlock(float[] x, int rows, int in, float[] w, int o0, int o1, int out,
                                    float[] bias, float[] y) {
        for (int r = 0; r < rows; r++) {
            for (int o = o0; o < o1; o++) {
                y[r * out + o] = dotScalar(x, r * in, w, o * in, in) + (bias == null ? 0f : bias[o]);
            }
        }
    }

    /** Plain reference: sequential FMAs. */
    public static float dotScalar(float[] a, int ao, float[] b, int bo, int n) {
        float s = 0f;
        for (int k = 0; k < n; k++) {
            s = Math.fma(a[ao + k], b[bo + k], s);
        }
        return s;
    }

    /** Scalar reference of {@link #matmulTransposed}, in double, for tests. */
    public static void matmulTransposedReference(float[] x, int rows, int in, float[] w, int out, float[] bias,
                                                 float[] y) {
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double s = bias == null ? 0 : bias[o];
                for (int k = 0; k < in; k++) {
                    s += (double) x[r * in + k] * w[o * in + k];
                }
                y[r * out + o] = (float) s;
            }
        }
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
