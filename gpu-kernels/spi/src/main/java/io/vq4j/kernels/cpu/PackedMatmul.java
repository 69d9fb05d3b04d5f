package io.vq4j.kernels.cpu;

import io.vq4j.core.Parallel;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Y[rows x out] = X[rows x in] · Wᵀ with W packed once into panels of L output columns,
 * {@code packed[(panel * in + k) * L + lane] = W[panel * L + lane][k]} (the last panel padded
 * with zeros). Each vector lane is one output and accumulates x[r][k]·w[o][k] by FMA in k order,
 * so there is no horizontal reduction: every output is computed in the same order whichever
 * micro-kernel, tile or thread handles it, and whatever the JIT tier.
 */
public final class PackedMatmul {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Rows of X per block: the block stays in L2 while panels stream past it. */
    private static final int ROW_BLOCK = Integer.getInteger("vq.gemm.rowblock", 64);
    /**
     * Terms of k per pass over a row block: a pair of panels' slice (2·K_BLOCK·L floats, 32 KiB at
     * 256 × 16 lanes) stays in L1 while the row block runs over it, {@link #tall} rows at a time, then four, then one; the sums carry from
     * one slice to the next in the scratch, so each output is still one FMA chain over k in order.
     */
    private static final int K_BLOCK = Integer.getInteger("vq.gemm.kblock", 256);
    /**
     * Rows of the tallest kernel over a panel pair: 8 (16 accumulators, 19 vector registers in all)
     * where vectors are 512 bits (AVX-512 has 32 registers), else 5 (10 accumulators). On AVX2's 16
     * registers C2 keeps 10 accumulators, two panel vectors and its broadcast temporaries in
     * registers, but with 6 rows it spilled one accumulator to the stack: that sum then went
     * through memory every k step and the 6-row tile ran at ~37 GFLOP/s a core against the 5-row
     * tile's ~60 (register tile alone, panels in L1, a 2-core Zen 3). -Dvq.gemm.tall=8|5
     * overrides. Each output is the same FMA chain over k whichever kernel runs.
     */
    private static volatile int tall = tallRows(Integer.getInteger("vq.gemm.tall", S.vectorBitSize() >= 512 ? 8 : 5));

    /** Sets the tallest kernel's rows (8 or 5; tests run both); returns the old value. */
    static int tall(int rows) {
        int old = tall;
        tall = tallRows(rows);
        return old;
    }

    private static int tallRows(int rows) {
        if (rows != 8 && rows != 5) {
            throw new IllegalArgumentException("vq.gemm.tall must be 8 or 5, got " + rows);
        }
        return rows;
    }

    private final float[] packed;
    private final int out;
    private final int in;
    private final int panels;
    /** Packed by {@link #packUpperHalved}: lane o holds no term beyond k = o, so k stops at the pair's last column. */
    private final boolean upper;

    private PackedMatmul(float[] packed, int out, int in) {
        this(packed, out, in, false);
    }

    private PackedMatmul(float[] packed, int out, int in, boolean upper) {
        this.packed = packed;
        this.out = out;
        this.in = in;
        this.panels = (out + L - 1) / L;
        this.upper = upper;
    }

    /** Packs W ([out][in], row-major). */
    public static PackedMatmul pack(float[] w, int out, int in) {
        int panels = (out + L - 1) / L;
        float[] p = new float[Math.multiplyExact(Math.multiplyExact(panels, in), L)];
        Parallel.forChunks(0, panels, 8, (lo, hi) -> {
            for (int panel = lo; panel < hi; panel++) {
                for (int lane = 0; lane < L && panel * L + lane < out; lane++) {
                    int row = (panel * L + lane) * in;
                    int base = panel * in * L + lane;
                    for (int k = 0; k < in; k++) {
                        p[base + k * L] = w[row + k];
                    }
                }
            }
        });
        return new PackedMatmul(p, out, in);
    }

    /**
     * For the quadratic form of a symmetric H (n×n, row-major): lane o of the packing holds
     * T[k][o] = H[o][k] for k &lt; o, H[o][o]/2 at k = o and 0 for k &gt; o, so that H = T + Tᵀ and
     * tr(A H Aᵀ) = 2·tr(A T Aᵀ) ({@link #quadratic}): half the products of the plain gemm. Halving
     * is exact (a subnormal diagonal loses its last bit). H's symmetry is the caller's to ensure.
     */
    public static PackedMatmul packUpperHalved(float[] h, int n) {
        int panels = (n + L - 1) / L;
        float[] p = new float[Math.multiplyExact(Math.multiplyExact(panels, n), L)];
        Parallel.forChunks(0, panels, 8, (lo, hi) -> {
            for (int panel = lo; panel < hi; panel++) {
                for (int lane = 0; lane < L && panel * L + lane < n; lane++) {
                    int o = panel * L + lane;
                    int base = panel * n * L + lane;
                    for (int k = 0; k < o; k++) {
                        p[base + k * L] = h[o * n + k];
                    }
                    p[base + o * L] = h[o * n + o] * 0.5f;
                }
            }
        });
        return new PackedMatmul(p, n, n, true);
    }

    /**
     * Σ_r x_r H x_rᵀ = tr(X H Xᵀ) for X rows × n (row-major) and the H of {@link #packUpperHalved}:
     * s_ro = Σ_{k ≤ o} x_rk T_ko in float (one FMA chain over ascending k, as every product here),
     * then 2 · Σ x_ro s_ro in double: each row block and panel pair summed on one thread in row and
     * output order, the blocks' sums added in a fixed order, so the result does not depend on the
     * thread count. Pairs are handed out from both ends (the last pair has the most terms).
     */
    public double quadratic(float[] x, int rows) {
        if (!upper) {
            throw new IllegalStateException("quadratic needs the packing of packUpperHalved");
        }
        int pairs = (panels + 1) / 2;
        double[] dots = new double[Math.multiplyExact((rows + ROW_BLOCK - 1) / ROW_BLOCK, pairs)];
        Out y = new Out(null, 0, 0, null, false, 1f, 0f, dots);
        long work = (long) rows * in * out / 2;
        Parallel.forChunks(0, pairs, work < (1 << 20) ? pairs : 2, (lo, hi) -> block(x, 0, in, rows, lo, hi, y,
                scratch()));
        double s = 0;
        for (double d : dots) {
            s += d;
        }
        return 2 * s;
    }

    /** The i-th pair handed out: 0, last, 1, last − 1, … (equal work per chunk for {@link #quadratic}). */
    private static int fromBothEnds(int i, int pairs) {
        return (i & 1) == 0 ? i >> 1 : pairs - 1 - (i >> 1);
    }

    /** W back in row-major [out][in] (panels in parallel: the quantizer's copy of each weight). */
    public float[] unpack() {
        float[] w = new float[Math.multiplyExact(out, in)];
        Parallel.forChunks(0, panels, 8, (lo, hi) -> {
            for (int panel = lo; panel < hi; panel++) {
                int lanes = Math.min(L, out - panel * L);
                int base = panel * in * L;
                for (int k = 0; k < in; k++) {
                    int at = base + k * L;
                    for (int lane = 0; lane < lanes; lane++) {
                        w[(panel * L + lane) * in + k] = packed[at + lane];
                    }
                }
            }
        });
        return w;
    }

    public int out() {
        return out;
    }

    public int in() {
        return in;
    }

    /**
     * Packs op(B)ᵀ for C = op(A) · op(B) with op(B) k×n: B is the sub-matrix of {@code b} at
     * {@code offset} with row stride {@code ld}, k×n (n×k when {@code transposed}).
     */
    public static PackedMatmul packView(float[] b, int offset, int ld, int k, int n, boolean transposed) {
        int panels = (n + L - 1) / L;
        float[] p = new float[Math.multiplyExact(Math.multiplyExact(panels, k), L)];
        Parallel.forChunks(0, panels, 8, (lo, hi) -> {
            for (int panel = lo; panel < hi; panel++) {
                int lanes = Math.min(L, n - panel * L);
                int base = panel * k * L;
                for (int kk = 0; kk < k; kk++) {
                    for (int lane = 0; lane < lanes; lane++) {
                        int o = panel * L + lane;
                        p[base + kk * L + lane] = transposed ? b[offset + o * ld + kk] : b[offset + kk * ld + o];
                    }
                }
            }
        });
        return new PackedMatmul(p, n, k);
    }

    /** {@code y[r*out + o] = sum_k x[r*in + k] * W[o][k] + bias[o]}; bias may be null. */
    public void multiply(float[] x, int rows, float[] bias, float[] y) {
        run(x, 0, in, rows, new Out(y, 0, out, bias, false, 1f, 0f));
    }

    /**
     * In place, as {@code CpuBackend.gemm} finishes a product: with s_ro = Σ_k x[xOffset + r·ldx + k]·W[o][k]
     * (the same FMA order as {@link #multiply}), y[yOffset + r·ldy + o] = alpha·s_ro, plus beta times
     * its old value when beta ≠ 0. x's rows and y's rows must not overlap.
     */
    public void multiplyInto(float[] x, int xOffset, int ldx, int rows, float alpha, float beta, float[] y,
                             int yOffset, int ldy) {
        run(x, xOffset, ldx, rows, new Out(y, yOffset, ldy, null, true, alpha, beta));
    }

    /**
     * On the calling thread, outputs [2·pairFrom·L, min(out, 2·pairTo·L)) of {@code rows} rows of X:
     * {@code y[yOffset + r·ldy + o − 2·pairFrom·L] = Σ_k x[xOffset + r·ldx + k]·W[o][k] + bias[o]}
     * (bias may be null), in {@link #multiply}'s order. For a caller that tiles the outputs itself
     * and runs the tiles in parallel (the matmul form of the assignment, AssignGemm).
     */
    public void multiplyPanelPairs(float[] x, int xOffset, int ldx, int rows, int pairFrom, int pairTo, float[] bias,
                                   float[] y, int yOffset, int ldy) {
        block(x, xOffset, ldx, rows, pairFrom, Math.min(pairTo, (panels + 1) / 2),
                new Out(y, yOffset - 2 * pairFrom * L, ldy, bias, false, 1f, 0f), scratch());
    }

    /** Panels per pair of {@link #multiplyPanelPairs}, times lanes: the outputs one pair holds. */
    public static int pairWidth() {
        return 2 * L;
    }

    /** Where products land and how they are finished. */
    private record Out(float[] y, int offset, int ld, float[] bias, boolean scaled, float alpha, float beta,
                       double[] dots) {
        Out(float[] y, int offset, int ld, float[] bias, boolean scaled, float alpha, float beta) {
            this(y, offset, ld, bias, scaled, alpha, beta, null);
        }
    }

    private void run(float[] x, int xo, int ldx, int rows, Out y) {
        long work = (long) rows * in * out;
        int minChunk = work < (1 << 20) ? panels : 2; // small products are not worth a fork
        Parallel.forChunks(0, (panels + 1) / 2, minChunk, (lo, hi) -> block(x, xo, ldx, rows, lo, hi, y,
                scratch()));
    }

    /** The sums of one row block and panel pair: two L-vectors a row. */
    private static float[] scratch() {
        return new float[2 * ROW_BLOCK * L];
    }

    /**
     * Panel pairs [lo, hi) of every row, on this thread: for each row block and pair, k in slices
     * of {@link #K_BLOCK}, the sums of row i of the block in {@code sums[2iL, 2iL + 2L)}.
     */
    private void block(float[] x, int xo, int ldx, int rows, int lo, int hi, Out y, float[] sums) {
        int pairs = (panels + 1) / 2;
        int rowsTall = tall;
        for (int r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
            int r1 = Math.min(rows, r0 + ROW_BLOCK);
            for (int i = lo; i < hi; i++) {
                int pp = upper ? fromBothEnds(i, pairs) : i;
                int p = 2 * pp;
                boolean two = p + 1 < panels;
                int kEnd = upper ? Math.min(in, (p + 2) * L) : in; // T's lanes hold nothing beyond their column
                Arrays.fill(sums, 0, 2 * (r1 - r0) * L, 0f);
                for (int k0 = 0; k0 < kEnd; k0 += K_BLOCK) {
                    int k1 = Math.min(kEnd, k0 + K_BLOCK);
                    int r = r0;
                    if (two && rowsTall == 8) {
                        for (; r + 8 <= r1; r += 8) {
                            kernel8x2(x, xo, ldx, r, p, k0, k1, sums, 2 * (r - r0) * L);
                        }
                    } else if (two) {
                        for (; r + 5 <= r1; r += 5) {
                            kernel5x2(x, xo, ldx, r, p, k0, k1, sums, 2 * (r - r0) * L);
                        }
                    }
                    for (; r + 4 <= r1; r += 4) {
                        if (two) {
                            kernel4x2(x, xo, ldx, r, p, k0, k1, sums, 2 * (r - r0) * L);
                        } else {
                            kernel4x1(x, xo, ldx, r, p, k0, k1, sums, 2 * (r - r0) * L);
                        }
                    }
                    for (; r < r1; r++) {
                        kernel1(x, xo, ldx, r, p, k0, k1, sums, 2 * (r - r0) * L);
                        if (two) {
                            kernel1(x, xo, ldx, r, p + 1, k0, k1, sums, (2 * (r - r0) + 1) * L);
                        }
                    }
                }
                if (y.dots != null) {
                    y.dots[(r0 / ROW_BLOCK) * pairs + pp] = dot(x, xo, ldx, r0, r1, p, two ? 2 : 1, sums);
                    continue;
                }
                for (int r = r0; r < r1; r++) {
                    finish(sums, 2 * (r - r0), r, p, y);
                    if (two) {
                        finish(sums, 2 * (r - r0) + 1, r, p + 1, y);
                    }
                }
            }
        }
    }

    /*
     * The kernels carry their raw sums in a scratch (one L-vector per output block: read at the
     * start of a k slice, written at its end) and finish() applies bias, alpha and beta: with
     * those branches inside a kernel, C2 compiled its k-loop slower once the kernel had been used
     * both ways (measured ≈ 18 % here, 2× in DoubleKernel). Rows r..r+3 of the block's sums sit
     * at s, s + 2L, s + 4L, s + 6L (panel p) and L further on (panel p + 1).
     */
    private void kernel4x2(float[] x, int xo, int ldx, int r, int p, int k0, int k1, float[] sums, int s) {
        int xa = xo + r * ldx, xb = xa + ldx, xc = xb + ldx, xd = xc + ldx;
        int w0 = p * in * L, w1 = w0 + in * L;
        FloatVector a0 = FloatVector.fromArray(S, sums, s), a1 = FloatVector.fromArray(S, sums, s + L);
        FloatVector b0 = FloatVector.fromArray(S, sums, s + 2 * L), b1 = FloatVector.fromArray(S, sums, s + 3 * L);
        FloatVector c0 = FloatVector.fromArray(S, sums, s + 4 * L), c1 = FloatVector.fromArray(S, sums, s + 5 * L);
        FloatVector d0 = FloatVector.fromArray(S, sums, s + 6 * L), d1 = FloatVector.fromArray(S, sums, s + 7 * L);
        for (int k = k0; k < k1; k++) {
            FloatVector u = FloatVector.fromArray(S, packed, w0 + k * L);
            FloatVector v = FloatVector.fromArray(S, packed, w1 + k * L);
            FloatVector e = FloatVector.broadcast(S, x[xa + k]);
            a0 = e.fma(u, a0);
            a1 = e.fma(v, a1);
            e = FloatVector.broadcast(S, x[xb + k]);
            b0 = e.fma(u, b0);
            b1 = e.fma(v, b1);
            e = FloatVector.broadcast(S, x[xc + k]);
            c0 = e.fma(u, c0);
            c1 = e.fma(v, c1);
            e = FloatVector.broadcast(S, x[xd + k]);
            d0 = e.fma(u, d0);
            d1 = e.fma(v, d1);
        }
        a0.intoArray(sums, s);
        a1.intoArray(sums, s + L);
        b0.intoArray(sums, s + 2 * L);
        b1.intoArray(sums, s + 3 * L);
        c0.intoArray(sums, s + 4 * L);
        c1.intoArray(sums, s + 5 * L);
        d0.intoArray(sums, s + 6 * L);
        d1.intoArray(sums, s + 7 * L);
    }

    private void kernel5x2(float[] x, int xo, int ldx, int r, int p, int k0, int k1, float[] sums, int s) {
        int xa = xo + r * ldx, xb = xa + ldx, xc = xb + ldx, xd = xc + ldx, xe = xd + ldx;
        int w0 = p * in * L, w1 = w0 + in * L;
        FloatVector a0 = FloatVector.fromArray(S, sums, s), a1 = FloatVector.fromArray(S, sums, s + L);
        FloatVector b0 = FloatVector.fromArray(S, sums, s + 2 * L), b1 = FloatVector.fromArray(S, sums, s + 3 * L);
        FloatVector c0 = FloatVector.fromArray(S, sums, s + 4 * L), c1 = FloatVector.fromArray(S, sums, s + 5 * L);
        FloatVector d0 = FloatVector.fromArray(S, sums, s + 6 * L), d1 = FloatVector.fromArray(S, sums, s + 7 * L);
        FloatVector e0 = FloatVector.fromArray(S, sums, s + 8 * L), e1 = FloatVector.fromArray(S, sums, s + 9 * L);
        for (int k = k0; k < k1; k++) {
            FloatVector u = FloatVector.fromArray(S, packed, w0 + k * L);
            FloatVector v = FloatVector.fromArray(S, packed, w1 + k * L);
            FloatVector e = FloatVector.broadcast(S, x[xa + k]);
            a0 = e.fma(u, a0);
            a1 = e.fma(v, a1);
            e = FloatVector.broadcast(S, x[xb + k]);
            b0 = e.fma(u, b0);
            b1 = e.fma(v, b1);
            e = FloatVector.broadcast(S, x[xc + k]);
            c0 = e.fma(u, c0);
            c1 = e.fma(v, c1);
            e = FloatVector.broadcast(S, x[xd + k]);
            d0 = e.fma(u, d0);
            d1 = e.fma(v, d1);
            e = FloatVector.broadcast(S, x[xe + k]);
            e0 = e.fma(u, e0);
            e1 = e.fma(v, e1);
        }
        a0.intoArray(sums, s);
        a1.intoArray(sums, s + L);
        b0.intoArray(sums, s + 2 * L);
        b1.intoArray(sums, s + 3 * L);
        c0.intoArray(sums, s + 4 * L);
        c1.intoArray(sums, s + 5 * L);
        d0.intoArray(sums, s + 6 * L);
        d1.intoArray(sums, s + 7 * L);
        e0.intoArray(sums, s + 8 * L);
        e1.intoArray(sums, s + 9 * L);
    }

    private void kernel8x2(float[] x, int xo, int ldx, int r, int p, int k0, int k1, float[] sums, int s) {
        int xa = xo + r * ldx, xb = xa + ldx, xc = xb + ldx, xd = xc + ldx;
        int xe = xd + ldx, xf = xe + ldx, xg = xf + ldx, xh = xg + ldx;
        int w0 = p * in * L, w1 = w0 + in * L;
        FloatVector a0 = FloatVector.fromArray(S, sums, s), a1 = FloatVector.fromArray(S, sums, s + L);
        FloatVector b0 = FloatVector.fromArray(S, sums, s + 2 * L), b1 = FloatVector.fromArray(S, sums, s + 3 * L);
        FloatVector c0 = FloatVector.fromArray(S, sums, s + 4 * L), c1 = FloatVector.fromArray(S, sums, s + 5 * L);
        FloatVector d0 = FloatVector.fromArray(S, sums, s + 6 * L), d1 = FloatVector.fromArray(S, sums, s + 7 * L);
        FloatVector e0 = FloatVector.fromArray(S, sums, s + 8 * L), e1 = FloatVector.fromArray(S, sums, s + 9 * L);
        FloatVector f0 = FloatVector.fromArray(S, sums, s + 10 * L), f1 = FloatVector.fromArray(S, sums, s + 11 * L);
        FloatVector g0 = FloatVector.fromArray(S, sums, s + 12 * L), g1 = FloatVector.fromArray(S, sums, s + 13 * L);
        FloatVector h0 = FloatVector.fromArray(S, sums, s + 14 * L), h1 = FloatVector.fromArray(S, sums, s + 15 * L);
        for (int k = k0; k < k1; k++) {
            FloatVector u = FloatVector.fromArray(S, packed, w0 + k * L);
            FloatVector v = FloatVector.fromArray(S, packed, w1 + k * L);
            FloatVector e = FloatVector.broadcast(S, x[xa + k]);
            a0 = e.fma(u, a0);
            a1 = e.fma(v, a1);
            e = FloatVector.broadcast(S, x[xb + k]);
            b0 = e.fma(u, b0);
            b1 = e.fma(v, b1);
            e = FloatVector.broadcast(S, x[xc + k]);
            c0 = e.fma(u, c0);
            c1 = e.fma(v, c1);
            e = FloatVector.broadcast(S, x[xd + k]);
            d0 = e.fma(u, d0);
            d1 = e.fma(v, d1);
            e = FloatVector.broadcast(S, x[xe + k]);
            e0 = e.fma(u, e0);
            e1 = e.fma(v, e1);
            e = FloatVector.broadcast(S, x[xf + k]);
            f0 = e.fma(u, f0);
            f1 = e.fma(v, f1);
            e = FloatVector.broadcast(S, x[xg + k]);
            g0 = e.fma(u, g0);
            g1 = e.fma(v, g1);
            e = FloatVector.broadcast(S, x[xh + k]);
            h0 = e.fma(u, h0);
            h1 = e.fma(v, h1);
        }
        a0.intoArray(sums, s);
        a1.intoArray(sums, s + L);
        b0.intoArray(sums, s + 2 * L);
        b1.intoArray(sums, s + 3 * L);
        c0.intoArray(sums, s + 4 * L);
        c1.intoArray(sums, s + 5 * L);
        d0.intoArray(sums, s + 6 * L);
        d1.intoArray(sums, s + 7 * L);
        e0.intoArray(sums, s + 8 * L);
        e1.intoArray(sums, s + 9 * L);
        f0.intoArray(sums, s + 10 * L);
        f1.intoArray(sums, s + 11 * L);
        g0.intoArray(sums, s + 12 * L);
        g1.intoArray(sums, s + 13 * L);
        h0.intoArray(sums, s + 14 * L);
        h1.intoArray(sums, s + 15 * L);
    }

    private void kernel4x1(float[] x, int xo, int ldx, int r, int p, int k0, int k1, float[] sums, int s) {
        int xa = xo + r * ldx, xb = xa + ldx, xc = xb + ldx, xd = xc + ldx;
        int w0 = p * in * L;
        FloatVector a0 = FloatVector.fromArray(S, sums, s), b0 = FloatVector.fromArray(S, sums, s + 2 * L);
        FloatVector c0 = FloatVector.fromArray(S, sums, s + 4 * L), d0 = FloatVector.fromArray(S, sums, s + 6 * L);
        for (int k = k0; k < k1; k++) {
            FloatVector u = FloatVector.fromArray(S, packed, w0 + k * L);
            a0 = FloatVector.broadcast(S, x[xa + k]).fma(u, a0);
            b0 = FloatVector.broadcast(S, x[xb + k]).fma(u, b0);
            c0 = FloatVector.broadcast(S, x[xc + k]).fma(u, c0);
            d0 = FloatVector.broadcast(S, x[xd + k]).fma(u, d0);
        }
        a0.intoArray(sums, s);
        b0.intoArray(sums, s + 2 * L);
        c0.intoArray(sums, s + 4 * L);
        d0.intoArray(sums, s + 6 * L);
    }

    private void kernel1(float[] x, int xo, int ldx, int r, int p, int k0, int k1, float[] sums, int s) {
        int xa = xo + r * ldx;
        int w0 = p * in * L;
        FloatVector a0 = FloatVector.fromArray(S, sums, s);
        for (int k = k0; k < k1; k++) {
            a0 = FloatVector.broadcast(S, x[xa + k]).fma(FloatVector.fromArray(S, packed, w0 + k * L), a0);
        }
        a0.intoArray(sums, s);
    }

    /** Σ x_ro·s_ro in double over rows [r0, r1) and the outputs of panels p … p + n − 1, in that order. */
    private double dot(float[] x, int xo, int ldx, int r0, int r1, int p, int n, float[] sums) {
        double d = 0;
        int end = Math.min(out, (p + n) * L);
        for (int r = r0; r < r1; r++) {
            int xr = xo + r * ldx;
            int s = 2 * (r - r0) * L - p * L;
            for (int o = p * L; o < end; o++) {
                d += (double) x[xr + o] * sums[s + o];
            }
        }
        return d;
    }

    /** Output block (r, p) from the q-th sums vector of the scratch. */
    private void finish(float[] sums, int q, int r, int p, Out y) {
        FloatVector acc = FloatVector.fromArray(S, sums, q * L);
        int o = p * L;
        int yo = y.offset + r * y.ld + o;
        float[] bias = y.bias;
        if (o + L <= out) {
            if (bias != null) {
                acc = acc.add(FloatVector.fromArray(S, bias, o));
            }
            if (y.scaled) { // alpha·s (+ beta·old), rounded as the scalar expression: no contraction
                acc = acc.mul(y.alpha);
                if (y.beta != 0f) {
                    acc = acc.add(FloatVector.fromArray(S, y.y, yo).mul(y.beta));
                }
            }
            acc.intoArray(y.y, yo);
        } else {
            VectorMask<Float> m = S.indexInRange(o, out);
            if (bias != null) {
                acc = acc.add(FloatVector.fromArray(S, bias, o, m));
            }
            if (y.scaled) {
                acc = acc.mul(y.alpha);
                if (y.beta != 0f) {
                    acc = acc.add(FloatVector.fromArray(S, y.y, yo, m).mul(y.beta));
                }
            }
            acc.intoArray(y.y, yo, m);
        }
    }

    /** Plain reference in the same order (FMA over k per output), for tests. */
    public static void reference(float[] x, int rows, int in, float[] w, int out, float[] bias, float[] y) {
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                float s = 0f;
                for (int k = 0; k < in; k++) {
                    s = Math.fma(x[r * in + k], w[o * in + k], s);
                }
                y[r * out + o] = bias == null ? s : s + bias[o];
            }
        }
    }
}
