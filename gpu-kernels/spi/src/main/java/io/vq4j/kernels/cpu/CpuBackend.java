package io.vq4j.kernels.cpu;

import io.vq4j.core.Parallel;
import io.vq4j.kernels.AssignMethod;
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

    /**
     * H packed once as its upper triangle with the diagonal halved ({@link PackedMatmul#packUpperHalved}),
     * then 2·tr(A T Aᵀ) for each A: half the products of the default's gemm, no rows × n product kept.
     */
    @Override
    public double[] quadraticForms(float[] h, int n, int rows, float[]... as) {
        check(h.length >= (long) n * n, "quadraticForms: H is smaller than n × n");
        double[] q = new double[as.length];
        if (n == 0 || rows == 0 || as.length == 0) {
            return q;
        }
        PackedMatmul t = PackedMatmul.packUpperHalved(h, n);
        for (int i = 0; i < as.length; i++) {
            check(as[i].length >= (long) rows * n, "quadraticForms: A is smaller than rows × n");
            q[i] = t.quadratic(as[i], rows);
        }
        return q;
    }

    // ---- resident matrices: the host arrays themselves, operated on in place ----------------

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, ResidentMatrix a, int aRow,
                     int aCol, ResidentMatrix b, int bRow, int bCol, float beta, ResidentMatrix c, int cRow, int cCol) {
        HostMatrix ha = HostMatrix.of(a, this), hb = HostMatrix.of(b, this), hc = HostMatrix.writable(c, this);
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
        // residentWeights' packing when B is the whole of them, transposed (the same layout packView makes)
        PackedMatmul p = transB && bRow == 0 && bCol == 0 && n == hb.rows() && k == hb.cols()
                && hb.prepared() instanceof PackedMatmul pw ? pw
                : PackedMatmul.packView(hb.values(), bRow * hb.cols() + bCol, hb.cols(), k, n, transB);
        p.multiplyInto(x, xo, ldx, m, alpha, beta, cv, co, hc.cols());
    }

    /** The weights packed once for this backend's gemm (PackedMatmul.pack: packView's layout of W, transposed). */
    @Override
    public ResidentMatrix residentWeights(float[] values, int rows, int cols) {
        check(rows >= 0 && cols >= 0 && values.length >= (long) rows * cols, "residentWeights sizes");
        return HostMatrix.readOnly(values, rows, cols, this,
                rows > 0 && cols > 0 ? PackedMatmul.pack(values, rows, cols) : null);
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
        // codebook transposed to [d][k]: one vector op scores L centroids against one input vector;
        // the padding centroids are NaN, so no distance to them is ever less than another
        int kp = (k + L - 1) / L * L;
        float[] ct = new float[d * kp];
        Arrays.fill(ct, Float.NaN);
        for (int c = 0; c < k; c++) {
            for (int j = 0; j < d; j++) {
                ct[j * kp + c] = codebook[c * d + j];
            }
        }
        Parallel.forChunks(0, n, 64, (lo, hi) -> {
            int i = lo;
            for (; i + 4 <= hi; i += 4) {
                assignFour(vectors, weights, i, d, ct, kp, index, distance);
            }
            for (; i < hi; i++) {
                assignOne(vectors, weights, i, d, ct, kp, index, distance);
            }
        });
    }

    /** The matmul form on this backend's own gemm ({@link AssignGemm}). */
    @Override
    public void assignNearestGemm(float[] vectors, float[] weights, int n, int d, float[] codebook, int k,
                                  int[] index, float[] distance) {
        check(k > 0 && d > 0 && vectors.length >= (long) n * d && codebook.length >= (long) k * d
                && index.length >= n && distance.length >= n && (weights == null || weights.length >= (long) n * d),
                "assignNearestGemm sizes");
        AssignGemm.run(vectors, weights, n, d, codebook, k, index, distance);
    }

    @Override
    public AssignMethod assignMethod(int n, int d, int k, boolean weighted) {
        return AssignMethod.forShape("cpu", n, d, k, weighted);
    }

    private static final IntVector LANES = IntVector.zero(IS).addIndex(1);

    /*
     * The distance's definition on every backend (vq.cl's assign_block): diff = c - x,
     * acc = fma(diff, diff, acc), weighted acc = fma(w * diff, diff, acc), j in order. Lane l keeps
     * the least distance among centroids c = l (mod L) and its index (strict <, in centroid order);
     * the least over lanes, lowest index on a tie, is the first least of a scan from 0.
     */

    /** Four vectors at once: each centroid load feeds four distances (the same arithmetic as one). */
    private static void assignFour(float[] v, float[] w, int i, int d, float[] ct, int kp, int[] index,
                                   float[] distance) {
        FloatVector b0 = FloatVector.broadcast(S, Float.POSITIVE_INFINITY);
        FloatVector b1 = b0;
        FloatVector b2 = b0;
        FloatVector b3 = b0;
        IntVector i0 = IntVector.zero(IS);
        IntVector i1 = i0;
        IntVector i2 = i0;
        IntVector i3 = i0;
        int o0 = i * d;
        int o1 = o0 + d;
        int o2 = o1 + d;
        int o3 = o2 + d;
        for (int c0 = 0; c0 < kp; c0 += L) {
            FloatVector a0 = FloatVector.zero(S);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            FloatVector a3 = a0;
            if (w == null) {
                for (int j = 0; j < d; j++) {
                    FloatVector c = FloatVector.fromArray(S, ct, j * kp + c0);
                    FloatVector e0 = c.sub(v[o0 + j]);
                    FloatVector e1 = c.sub(v[o1 + j]);
                    FloatVector e2 = c.sub(v[o2 + j]);
                    FloatVector e3 = c.sub(v[o3 + j]);
                    a0 = e0.fma(e0, a0);
                    a1 = e1.fma(e1, a1);
                    a2 = e2.fma(e2, a2);
                    a3 = e3.fma(e3, a3);
                }
            } else {
                for (int j = 0; j < d; j++) {
                    FloatVector c = FloatVector.fromArray(S, ct, j * kp + c0);
                    FloatVector e0 = c.sub(v[o0 + j]);
                    FloatVector e1 = c.sub(v[o1 + j]);
                    FloatVector e2 = c.sub(v[o2 + j]);
                    FloatVector e3 = c.sub(v[o3 + j]);
                    a0 = e0.mul(w[o0 + j]).fma(e0, a0);
                    a1 = e1.mul(w[o1 + j]).fma(e1, a1);
                    a2 = e2.mul(w[o2 + j]).fma(e2, a2);
                    a3 = e3.mul(w[o3 + j]).fma(e3, a3);
                }
            }
            IntVector at = LANES.add(c0);
            VectorMask<Float> m0 = a0.compare(VectorOperators.LT, b0);
            VectorMask<Float> m1 = a1.compare(VectorOperators.LT, b1);
            VectorMask<Float> m2 = a2.compare(VectorOperators.LT, b2);
            VectorMask<Float> m3 = a3.compare(VectorOperators.LT, b3);
            b0 = b0.blend(a0, m0);
            b1 = b1.blend(a1, m1);
            b2 = b2.blend(a2, m2);
            b3 = b3.blend(a3, m3);
            i0 = i0.blend(at, m0.cast(IS));
            i1 = i1.blend(at, m1.cast(IS));
            i2 = i2.blend(at, m2.cast(IS));
            i3 = i3.blend(at, m3.cast(IS));
        }
        firstLeast(b0, i0, i, index, distance);
        firstLeast(b1, i1, i + 1, index, distance);
        firstLeast(b2, i2, i + 2, index, distance);
        firstLeast(b3, i3, i + 3, index, distance);
    }

    private static void assignOne(float[] v, float[] w, int i, int d, float[] ct, int kp, int[] index,
                                  float[] distance) {
        FloatVector best = FloatVector.broadcast(S, Float.POSITIVE_INFINITY);
        IntVector bestIndex = IntVector.zero(IS);
        for (int c0 = 0; c0 < kp; c0 += L) {
            FloatVector acc = FloatVector.zero(S);
            for (int j = 0; j < d; j++) {
                FloatVector diff = FloatVector.fromArray(S, ct, j * kp + c0).sub(v[i * d + j]);
                acc = w == null ? diff.fma(diff, acc) : diff.mul(w[i * d + j]).fma(diff, acc);
            }
            VectorMask<Float> less = acc.compare(VectorOperators.LT, best);
            best = best.blend(acc, less);
            bestIndex = bestIndex.blend(LANES.add(c0), less.cast(IS));
        }
        firstLeast(best, bestIndex, i, index, distance);
    }

    private static void firstLeast(FloatVector best, IntVector bestIndex, int i, int[] index, float[] distance) {
        float m = best.reduceLanes(VectorOperators.MIN);
        index[i] = m < Float.POSITIVE_INFINITY
                ? bestIndex.blend(Integer.MAX_VALUE, best.compare(VectorOperators.EQ, m).not().cast(IS))
                .reduceLanes(VectorOperators.MIN)
                : 0; // nothing below infinity (all infinite or NaN): centroid 0, as a scan from 0 finds
        distance[i] = m;
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
