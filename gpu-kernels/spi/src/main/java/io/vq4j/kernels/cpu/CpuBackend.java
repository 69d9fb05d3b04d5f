package io.vq4j.kernels.cpu;

import io.vq4j.core.Parallel;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.HostMatrix;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedReference;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.Objects;

/** The reference backend: Vector API on the CPU, split across threads by {@link Parallel}. */
public final class CpuBackend implements Backend {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, S.vectorShape());
    /**
     * Vectors per M-step partial: fixed, so the reduction order does not depend on threads (the GPU
     * backends sum in the same partials, for the same bits).
     */
    public static final int PARTIAL = 4096;

    @Override
    public String name() {
        return "cpu (" + Parallel.threads() + " threads, " + L + "-lane vectors)";
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, float[] b,
                     float beta, float[] c) {
        check(a.length >= (long) m * k && b.length >= (long) k * n && c.length >= (long) m * n, "gemm sizes");
        float[] x = transA ? transpose(a, k, m) : a;       // op(A): m×k
        float[] w = transB ? b : transpose(b, k, n);       // op(B)ᵀ: n×k
        float[] y = new float[m * n];
        if (k > 0) {
            PackedMatmul.pack(w, n, k).multiply(x, m, null, y);
        }
        Parallel.forChunks(0, m * n, 1 << 14, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                c[i] = beta == 0f ? alpha * y[i] : alpha * y[i] + beta * c[i];
            }
        });
    }

    // ---- resident matrices: the host arrays themselves, operated on in place ----------------

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, ResidentMatrix a, int aRow,
                     int aCol, ResidentMatrix b, int bRow, int bCol, float beta, ResidentMatrix c, int cRow, int cCol) {
        HostMatrix ha = HostMatrix.of(a, this), hb = HostMatrix.of(b, this), hc = HostMatrix.of(c, this);
        ha.checkRegion("gemm A", aRow, aCol, transA ? k : m, transA ? m : k);
        hb.checkRegion("gemm B", bRow, bCol, transB ? n : k, transB ? k : n);
        hc.checkRegion("gemm C", cRow, cCol, m, n);
        float[] cv = hc.values();
        int co = cRow * hc.cols() + cCol;
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0) { // as the array gemm: alpha · 0 (+ beta · C)
            for (int r = 0; r < m; r++) {
                for (int j = co + r * hc.cols(), e = j + n; j < e; j++) {
                    cv[j] = beta == 0f ? alpha * 0f : alpha * 0f + beta * cv[j];
                }
            }
            return;
        }
        // op(A) row by row: A's own rows in place, or a transposed copy
        float[] x = ha.values();
        int xo = aRow * ha.cols() + aCol;
        int ldx = ha.cols();
        if (transA) {
            x = new float[m * k];
            for (int kk = 0; kk < k; kk++) {
                for (int r = 0; r < m; r++) {
                    x[r * k + kk] = ha.values()[xo + kk * ldx + r];
                }
            }
            xo = 0;
            ldx = k;
        }
        PackedMatmul.packView(hb.values(), bRow * hb.cols() + bCol, hb.cols(), k, n, transB)
                .multiplyInto(x, xo, ldx, m, alpha, beta, cv, co, hc.cols());
    }

    private static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = a[r * cols + c];
            }
        }
        return t;
    }

    @Override
    public void assignNearest(float[] vectors, float[] weights, int n, int d, float[] codebook, int k, int[] index,
                              float[] distance) {
        check(k > 0 && d > 0 && vectors.length >= (long) n * d && codebook.length >= (long) k * d
                && index.length >= n && distance.length >= n && (weights == null || weights.length >= (long) n * d),
                "assignNearest sizes");
        // codebook transposed to [d][k]: one vector op scores L centroids against one input vector
        int kp = (k + L - 1) / L * L;
        float[] ct = new float[d * kp];
        for (int c = 0; c < k; c++) {
            for (int j = 0; j < d; j++) {
                ct[j * kp + c] = codebook[c * d + j];
            }
        }
        int full = k / L * L; // centroids in whole vectors; the rest in one masked step
        Parallel.forChunks(0, n, 64, (lo, hi) -> {
            IntVector lanes = IntVector.zero(IS).addIndex(1);
            for (int i = lo; i < hi; i++) {
                // lane l keeps the least distance among centroids c = l (mod L) and its index (strict <,
                // in centroid order); the least over lanes, lowest index on a tie, is the first least
                FloatVector best = FloatVector.broadcast(S, Float.POSITIVE_INFINITY);
                IntVector bestIndex = IntVector.zero(IS);
                for (int c0 = 0; c0 < k; c0 += L) {
                    FloatVector acc = FloatVector.zero(S);
                    // the distance's definition on every backend (vq.cl's assign_block):
                    // acc = fma(diff, diff, acc), weighted acc = fma(w * diff, diff, acc), j in order
                    if (weights == null) {
                        for (int j = 0; j < d; j++) {
                            FloatVector diff = FloatVector.fromArray(S, ct, j * kp + c0).sub(vectors[i * d + j]);
                            acc = diff.fma(diff, acc);
                        }
                    } else {
                        for (int j = 0; j < d; j++) {
                            FloatVector diff = FloatVector.fromArray(S, ct, j * kp + c0).sub(vectors[i * d + j]);
                            acc = diff.mul(weights[i * d + j]).fma(diff, acc);
                        }
                    }
                    VectorMask<Float> less = acc.compare(VectorOperators.LT, best);
                    if (c0 >= full) {
                        less = less.and(S.indexInRange(c0, k));
                    }
                    best = best.blend(acc, less);
                    bestIndex = bestIndex.blend(lanes.add(c0), less.cast(IS));
                }
                float m = best.reduceLanes(VectorOperators.MIN);
                int at = m < Float.POSITIVE_INFINITY
                        ? bestIndex.blend(Integer.MAX_VALUE, best.compare(VectorOperators.EQ, m).not().cast(IS))
                        .reduceLanes(VectorOperators.MIN)
                        : 0; // nothing below infinity (all infinite or NaN): centroid 0, as a scan from 0 finds
                index[i] = at;
                distance[i] = m;
            }
        });
    }

    @Override
    public void accumulateCentroids(float[] vectors, float[] weights, int n, int d, int[] index, int k, double[] sums,
                                    double[] weightSums) {
        check(sums.length >= (long) k * d && weightSums.length >= (long) k * d && index.length >= n, "accumulateCentroids sizes");
        int parts = (n + PARTIAL - 1) / PARTIAL;
        double[][] ps = new double[parts][];
        double[][] pw = new double[parts][];
        Parallel.forEach(0, parts, p -> {
            double[] s = new double[k * d];
            double[] w = new double[k * d];
            int end = Math.min(n, (p + 1) * PARTIAL);
            for (int i = p * PARTIAL; i < end; i++) {
                int c = index[i];
                if (c < 0 || c >= k) {
                    throw new IllegalArgumentException("index[" + i + "] = " + c + " outside 0.." + (k - 1));
                }
                for (int j = 0; j < d; j++) {
                    double wt = weights == null ? 1.0 : weights[i * d + j];
                    s[c * d + j] += wt * vectors[i * d + j];
                    w[c * d + j] += wt;
                }
            }
            ps[p] = s;
            pw[p] = w;
        });
        Arrays.fill(sums, 0, k * d, 0.0);
        Arrays.fill(weightSums, 0, k * d, 0.0);
        for (int p = 0; p < parts; p++) { // second pass, in partial order
            for (int e = 0; e < k * d; e++) {
                sums[e] += ps[p][e];
                weightSums[e] += pw[p][e];
            }
        }
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalArgumentException(what + ": array too small or empty dimension");
        }
    }

    /** The CPU's handle: the host arrays themselves. */
    private record HostPacked(PackedMatrix matrix, CpuBackend owner)
            implements PackedWeights {
        @Override
        public long deviceBytes() {
            return 0;
        }

        @Override
        public void close() {
        }
    }

    @Override
    public PackedWeights upload(PackedMatrix matrix) {
        return new HostPacked(Objects.requireNonNull(matrix), this);
    }

    /** Whether the handle came from this backend's {@link #upload}. */
    public boolean owns(PackedWeights w) {
        return w instanceof HostPacked h && h.owner == this;
    }

    private PackedMatrix own(PackedWeights w) {
        if (!(w instanceof HostPacked h) || h.owner != this) {
            throw new IllegalArgumentException("packed weights from another backend: " + w);
        }
        return h.matrix();
    }

    @Override
    public void dequant(PackedWeights weights, float[] out) {
        PackedReference.dequant(own(weights), out);
    }

    @Override
    public void dequantMatmul(PackedWeights weights, float[] x, int n, float[] y) {
        PackedReference.matmul(own(weights), x, n, y);
    }

    /** The reference forward ops, on this backend's host matrices. */
    @Override
    public ForwardOps forwardOps() {
        return new HostForwardOps(this);
    }
}
