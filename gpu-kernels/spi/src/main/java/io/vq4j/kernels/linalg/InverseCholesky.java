package io.vq4j.kernels.linalg;

import io.vq4j.core.Parallel;

import java.util.Arrays;

/**
 * The upper factor U of H⁻¹ (UᵀU = H⁻¹) that GPTQ's loop needs, blocked and in place: the
 * array that holds H becomes U, and besides it only O(n·{@value #NB}) doubles of panels are
 * allocated, so n = 14,336 needs one n×n array (1.6 GB) and ≈ 35 MB more.
 *
 * <p>The steps are those of {@link ScalarInverseCholesky}: with J the order reversal, factor
 * J H J = L Lᵀ, invert L, and U = J L⁻¹ J. Reversing both orders of a row-major matrix is reversing
 * the flat array, done in place. The Cholesky is right-looking by panels of {@value #NB} columns
 * (LAPACK dpotrf's shape): the diagonal block unblocked, the panel below as A21·L11⁻ᵀ, the trailing
 * lower triangle minus L21·L21ᵀ. The inverse goes block column by block column from the bottom
 * right (dtrtri's shape): X21 = −X22·L21·X11. Every product is {@link DoubleKernel}'s, parallel
 * over independent row blocks, with each element summed in one fixed order, so the bits do not
 * depend on the thread count. Cost ≈ n³/3 + n³/3 flops, the same count as the scalar form.
 */
public final class InverseCholesky {
    /** Panel width (columns per Cholesky step and per block column of the inverse). */
    static final int NB = 128;
    /** Rows per parallel task. */
    private static final int MC = DoubleKernel.MC;
    /** Columns of B per pass over a row block (keeps NB·NC doubles of B in L2; a multiple of the kernel's NR). */
    private static final int NC = 256;
    /** Inner length per pass of the inverse's long products (p-chunks; part of the summation order). */
    static final int KC = 256;

    private InverseCholesky() {
    }

    /**
     * Overwrites {@code a} (n×n row-major, symmetric; only its upper triangle is read) with U:
     * upper triangular with a positive diagonal and zeros below, UᵀU = A⁻¹. Returns false, leaving
     * {@code a} unspecified, when A is not numerically positive definite (a pivot ≤ 0 or not finite).
     */
    public static boolean inPlace(double[] a, int n) {
        InverseCholesky.checkArguments(a, n);
        if (n == 0) {
            return true;
        }
        reverse(a, n * n); // J A J: the upper triangle of A is now the lower one
        if (!choleskyLower(a, n)) {
            return false;
        }
        for (int i = 0; i < n; i++) { // strict upper: exact zeros, so products may run over it
            Arrays.fill(a, i * n + i + 1, i * n + n, 0.0);
        }
        invertLower(a, n);
        reverse(a, n * n);
        return true;
    }

    /** The arguments' check of every backend's inverseCholeskyUpper (IllegalArgumentException: a caller's bug). */
    public static void checkArguments(double[] a, int n) {
        if (n < 0 || (long) n * n > Integer.MAX_VALUE || a.length < (long) n * n) {
            throw new IllegalArgumentException("inverseCholeskyUpper: " + a.length + " values for n = " + n);
        }
    }

    private static void reverse(double[] a, int count) {
        Parallel.forChunks(0, count / 2, 1 << 16, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                double t = a[i];
                a[i] = a[count - 1 - i];
                a[count - 1 - i] = t;
            }
        });
    }

    /** B(p, j) = b[bo + p·bps + j·bjs] packed for {@link DoubleKernel}, in parallel over column panels. */
    static void packB(double[] b, int bo, int bps, int bjs, int pCount, int jCount, double[] bp, int bpo) {
        int panels = (jCount + DoubleKernel.NR - 1) / DoubleKernel.NR;
        Parallel.forChunks(0, panels, 4, (lo, hi) -> {
            int j0 = lo * DoubleKernel.NR;
            int j1 = Math.min(jCount, hi * DoubleKernel.NR);
            DoubleKernel.packB(b, bo + j0 * bjs, bps, bjs, pCount, j1 - j0, bp, bpo + j0 * pCount);
        });
    }

    /** Lower Cholesky in place (the lower triangle; the strict upper is left as it was). */
    static boolean choleskyLower(double[] a, int n) {
        double[] inv = new double[NB * NB];
        double[] invP = new double[DoubleKernel.packedB(NB, NB)];
        int mMax = n - Math.min(NB, n);
        double[] bt = new double[Math.max(1, DoubleKernel.packedB(NB, mMax))];
        for (int step = 0; step < n; step += NB) {
            int k0 = step;
            int kb = Math.min(NB, n - k0);
            if (!choleskyBlock(a, n, k0, kb)) {
                return false;
            }
            int s = k0 + kb;
            int m = n - s;
            if (m == 0) {
                break;
            }
            // L21 = A21 · L11⁻ᵀ: B(q, c) = (L11⁻¹)[c][q]
            Arrays.fill(inv, 0.0);
            invertBlock(a, n, k0, kb, inv, kb);
            DoubleKernel.packB(inv, 0, 1, kb, kb, kb, invP, 0);
            Parallel.forChunks(0, m, MC, (lo, hi) -> {
                double[] ap = new double[DoubleKernel.packedA(hi - lo, kb)];
                DoubleKernel.packA(a, (s + lo) * n + k0, n, 1, hi - lo, kb, ap, 0);
                for (int i = lo; i < hi; i++) {
                    Arrays.fill(a, (s + i) * n + k0, (s + i) * n + k0 + kb, 0.0);
                }
                DoubleKernel.product(ap, 0, invP, 0, kb, a, (s + lo) * n + k0, n, hi - lo, kb, Integer.MAX_VALUE, false);
            });
            // trailing lower triangle: A22 −= L21 · L21ᵀ, B(q, j) = L21[j][q]
            packB(a, s * n + k0, 1, n, kb, m, bt, 0);
            int blocks = (m + MC - 1) / MC;
            Parallel.forEach(0, (blocks + 1) / 2, t -> { // block t with block (blocks − 1 − t): equal work
                double[] ap = new double[DoubleKernel.packedA(MC, kb)];
                trailingBlock(a, n, k0, kb, s, m, bt, ap, t);
                if (blocks - 1 - t != t) {
                    trailingBlock(a, n, k0, kb, s, m, bt, ap, blocks - 1 - t);
                }
            });
        }
        return true;
    }

    private static void trailingBlock(double[] a, int n, int k0, int kb, int s, int m, double[] bt, double[] ap,
                                      int block) {
        int r0 = block * MC;
        int r1 = Math.min(m, r0 + MC);
        DoubleKernel.packA(a, (s + r0) * n + k0, n, 1, r1 - r0, kb, ap, 0);
        for (int j0 = 0; j0 < r1; j0 += NC) {
            DoubleKernel.product(ap, 0, bt, j0 * kb, kb, a, (s + r0) * n + s + j0, n, r1 - r0, Math.min(NC, r1 - j0),
                    r0 - j0, true);
        }
    }

    /** Unblocked Cholesky of the kb×kb diagonal block at (k0, k0), in place (as the scalar reference). */
    private static boolean choleskyBlock(double[] a, int n, int k0, int kb) {
        for (int i = 0; i < kb; i++) {
            int ri = (k0 + i) * n + k0;
            for (int j = 0; j <= i; j++) {
                int rj = (k0 + j) * n + k0;
                double s = a[ri + j];
                for (int k = 0; k < j; k++) {
                    s -= a[ri + k] * a[rj + k];
                }
                if (i == j) {
                    if (!(s > 0) || !Double.isFinite(s)) {
                        return false;
                    }
                    a[ri + i] = Math.sqrt(s);
                } else {
                    a[ri + j] = s / a[rj + j];
                }
            }
        }
        return true;
    }

    /**
     * X = L⁻¹ of the kb×kb lower block of {@code l} at (k0, k0), row by row, into {@code x}
     * (row stride ldx; only its lower triangle is written). x may be that block itself.
     */
    private static void invertBlock(double[] l, int n, int k0, int kb, double[] x, int ldx) {
        boolean inPlace = x == l;
        int xo = inPlace ? k0 * n + k0 : 0;
        double[] acc = new double[kb];
        for (int i = 0; i < kb; i++) {
            int ri = (k0 + i) * n + k0;
            Arrays.fill(acc, 0, i, 0.0);
            for (int k = 0; k < i; k++) { // acc[j] = Σ_{j ≤ k < i} L[i][k] X[k][j]
                double lik = l[ri + k];
                if (lik != 0) {
                    int rk = xo + k * ldx;
                    for (int j = 0; j <= k; j++) {
                        acc[j] += lik * x[rk + j];
                    }
                }
            }
            double inv = 1.0 / l[ri + i];
            int xi = xo + i * ldx;
            for (int j = 0; j < i; j++) {
                x[xi + j] = -acc[j] * inv;
            }
            x[xi + i] = inv;
        }
    }

    /** L⁻¹ in place of a lower-triangular L whose strict upper triangle is zero. */
    static void invertLower(double[] a, int n) {
        int last = (n - 1) / NB * NB;
        int mMax = n - Math.min(NB, n);
        int nbp = DoubleKernel.packedB(1, NB); // NB rounded up to whole column panels
        double[] l21 = new double[Math.max(1, mMax * nbp)];
        double[] t = new double[Math.max(1, mMax * NB)];
        double[] x11 = new double[DoubleKernel.packedB(NB, NB)];
        for (int step = last; step >= 0; step -= NB) {
            int j0 = step;
            int jb = Math.min(NB, n - j0);
            int s = j0 + jb;
            int m = n - s;
            if (m > 0) {
                // T = X22 · L21 (X22 = the inverse below, already done; lower, zeros above), over p-chunks of KC
                for (int p0 = 0; p0 < m; p0 += KC) {
                    packB(a, (s + p0) * n + j0, n, 1, Math.min(KC, m - p0), jb, l21, p0 * nbp);
                }
                Arrays.fill(t, 0, m * jb, 0.0);
                int blocks = (m + MC - 1) / MC;
                Parallel.forEach(0, (blocks + 1) / 2, k -> {
                    double[] ap = new double[DoubleKernel.packedA(MC, KC)];
                    triangularTimesPanel(a, n, s, jb, m, l21, nbp, t, ap, k);
                    if (blocks - 1 - k != k) {
                        triangularTimesPanel(a, n, s, jb, m, l21, nbp, t, ap, blocks - 1 - k);
                    }
                });
            }
            invertBlock(a, n, j0, jb, a, n);
            if (m > 0) {
                // X21 = −T · X11
                DoubleKernel.packB(a, j0 * n + j0, n, 1, jb, jb, x11, 0);
                Parallel.forChunks(0, m, MC, (lo, hi) -> {
                    double[] ap = new double[DoubleKernel.packedA(hi - lo, jb)];
                    DoubleKernel.packA(t, lo * jb, jb, 1, hi - lo, jb, ap, 0);
                    for (int i = lo; i < hi; i++) {
                        Arrays.fill(a, (s + i) * n + j0, (s + i) * n + j0 + jb, 0.0);
                    }
                    DoubleKernel.product(ap, 0, x11, 0, jb, a, (s + lo) * n + j0, n, hi - lo, jb, Integer.MAX_VALUE, true);
                });
            }
        }
    }

    /**
     * Rows [block·MC, …) of T = X22 · L21, over p-chunks of KC up to the block's last row (X22 is 0
     * beyond; the chunks are part of the summation order).
     */
    private static void triangularTimesPanel(double[] a, int n, int s, int jb, int m, double[] l21, int nbp,
                                             double[] t, double[] ap, int block) {
        int r0 = block * MC;
        int r1 = Math.min(m, r0 + MC);
        for (int p0 = 0; p0 < r1; p0 += KC) {
            int pc = Math.min(KC, m - p0); // the chunk as packed; rows of X22 are zero past the diagonal
            int used = Math.min(pc, r1 - p0);
            DoubleKernel.packA(a, (s + r0) * n + s + p0, n, 1, r1 - r0, used, ap, 0);
            DoubleKernel.product(ap, 0, l21, p0 * nbp, pc, used, t, r0 * jb, jb, r1 - r0, jb, Integer.MAX_VALUE, false);
        }
    }
}
