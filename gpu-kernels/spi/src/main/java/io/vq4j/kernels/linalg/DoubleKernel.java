package io.vq4j.kernels.linalg;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one double-precision product kernel of the factorisation and the Hessian: a block of
 * C ± A·B with the sum of every element in one fixed order. Each element's products are summed
 * from 0.0 by fused multiply-adds in ascending p, then added to (or subtracted from) C once; the
 * vector lanes and the reference {@link #scalar} do exactly that, so an element's bits do not
 * depend on where its tile starts, how the caller cuts the work, or on the thread count.
 *
 * <p>Operands are packed first (as GotoBLAS does): A in panels of {@link #MR} rows, each panel
 * p-major ({@code MR} values per p), B in panels of {@link #NR} columns, each p-major; panels are
 * zero-padded at the edges. A tile then reads both operands sequentially: no strided rows (a
 * row stride of a page or more costs a TLB miss per p-step, which made the unpacked form 3× slower
 * inside the factor than on small arrays). Register tile: {@link #MR} rows × 2 vectors. Edge
 * tiles are computed whole into a scratch tile and only their valid elements written.
 */
final class DoubleKernel {
    static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
    static final int V = S.length();
    static final int NR = 2 * V;
    /**
     * Rows of the register tile: 6 (12 accumulators) where vectors are 512 bits (AVX-512 has 32
     * registers), else 5 (10 accumulators). On AVX2's 16 registers C2 spilled one of the 6-row
     * tile's accumulators to the stack, so that sum went through memory every p step: the tile
     * alone (panels in L1) ran at ~20 GFLOP/s a core against the 5-row tile's ~43 on a 2-core
     * Zen 3. -Dvq.linalg.mr=6|5 overrides; an element's sum is the same whichever tile runs.
     */
    static final int MR = tileRows(Integer.getInteger("vq.linalg.mr", S.vectorBitSize() >= 512 ? 6 : 5));
    /** Rows per packed block of A for the factor's and the Gram's tasks: about 96, whole tiles. */
    static final int MC = (96 + MR - 1) / MR * MR;

    private DoubleKernel() {
    }

    static int tileRows(int rows) {
        if (rows != 5 && rows != 6) {
            throw new IllegalArgumentException("vq.linalg.mr must be 5 or 6, got " + rows);
        }
        return rows;
    }

    /** Doubles that {@link #packA} writes for iCount rows and pCount steps. */
    static int packedA(int iCount, int pCount) {
        return packedA(iCount, pCount, MR);
    }

    /** The same for a tile of {@code mr} rows (tests run both tiles). */
    static int packedA(int iCount, int pCount, int mr) {
        return (iCount + mr - 1) / mr * mr * pCount;
    }

    /** Doubles that {@link #packB} writes for pCount steps and jCount columns. */
    static int packedB(int pCount, int jCount) {
        return (jCount + NR - 1) / NR * NR * pCount;
    }

    /** A(i, p) = a[ao + i·ais + p·aps] for i &lt; iCount, p &lt; pCount, packed into ap from apo. */
    static void packA(double[] a, int ao, int ais, int aps, int iCount, int pCount, double[] ap, int apo) {
        packA(a, ao, ais, aps, iCount, pCount, ap, apo, MR);
    }

    /** The same in panels of {@code mr} rows. */
    static void packA(double[] a, int ao, int ais, int aps, int iCount, int pCount, double[] ap, int apo, int mr) {
        for (int i0 = 0; i0 < iCount; i0 += mr) {
            int base = apo + i0 * pCount;
            int rows = Math.min(mr, iCount - i0);
            for (int p = 0; p < pCount; p++) {
                int o = base + p * mr;
                int src = ao + i0 * ais + p * aps;
                for (int r = 0; r < rows; r++) {
                    ap[o + r] = a[src + r * ais];
                }
                for (int r = rows; r < mr; r++) {
                    ap[o + r] = 0.0;
                }
            }
        }
    }

    /** B(p, j) = b[bo + p·bps + j·bjs] for p &lt; pCount, j &lt; jCount, packed into bp from bpo. */
    static void packB(double[] b, int bo, int bps, int bjs, int pCount, int jCount, double[] bp, int bpo) {
        for (int j0 = 0; j0 < jCount; j0 += NR) {
            int base = bpo + j0 * pCount;
            int cols = Math.min(NR, jCount - j0);
            for (int p = 0; p < pCount; p++) {
                int o = base + p * NR;
                int src = bo + p * bps + j0 * bjs;
                if (bjs == 1) {
                    System.arraycopy(b, src, bp, o, cols);
                } else {
                    for (int c = 0; c < cols; c++) {
                        bp[o + c] = b[src + c * bjs];
                    }
                }
                for (int c = cols; c < NR; c++) {
                    bp[o + c] = 0.0;
                }
            }
        }
    }

    /**
     * For i &lt; iCount, j &lt; jCount with j − i ≤ diag: C(i, j) ±= Σ_{p &lt; pCount} A(i, p)·B(p, j)
     * (minus when {@code subtract}), A packed at ap[apo] (rows from 0), B packed at bp[bpo] (columns
     * from 0; the packing may hold more columns), C row-major c[co + i·ldc + j]. Elements with
     * j − i &gt; diag are not touched (diag = {@link Integer#MAX_VALUE}: the whole rectangle).
     */
    static void product(double[] ap, int apo, double[] bp, int bpo, int pCount, double[] c, int co, int ldc,
                        int iCount, int jCount, int diag, boolean subtract) {
        product(ap, apo, bp, bpo, pCount, pCount, c, co, ldc, iCount, jCount, diag, subtract);
    }

    /** The same over the first pCount steps of a B packed with bSteps ≥ pCount steps. */
    static void product(double[] ap, int apo, double[] bp, int bpo, int bSteps, int pCount, double[] c, int co,
                        int ldc, int iCount, int jCount, int diag, boolean subtract) {
        product(ap, apo, bp, bpo, bSteps, pCount, c, co, ldc, iCount, jCount, diag, subtract, MR);
    }

    /** The same with A packed in panels of {@code mr} rows ({@link #packA}'s last argument). */
    static void product(double[] ap, int apo, double[] bp, int bpo, int bSteps, int pCount, double[] c, int co,
                        int ldc, int iCount, int jCount, int diag, boolean subtract, int mr) {
        double[] edge = null;
        double[] sums = new double[6 * NR];
        for (int i = 0; i < iCount; i += mr) {
            int rows = Math.min(mr, iCount - i);
            int jEnd = (int) Math.min(jCount, (long) i + rows + diag); // columns some row of the tile writes
            int ai = apo + i * pCount;
            for (int j = 0; j < jEnd; j += NR) {
                int bj = bpo + j * bSteps;
                int cij = co + i * ldc + j;
                if (rows == mr && j + NR <= jCount && (long) j + NR - 1 - i <= diag) {
                    tile(ap, ai, bp, bj, pCount, sums, mr);
                    merge(sums, c, cij, ldc, subtract, mr);
                    continue;
                }
                if (edge == null) {
                    edge = new double[6 * NR];
                }
                int cols = Math.min(NR, jCount - j);
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(c, cij + r * ldc, edge, r * NR, cols);
                }
                tile(ap, ai, bp, bj, pCount, sums, mr);
                merge(sums, edge, 0, NR, subtract, mr);
                for (int r = 0; r < rows; r++) {
                    int w = (int) Math.max(0, Math.min(cols, (long) i + r + diag - j + 1));
                    System.arraycopy(edge, r * NR, c, cij + r * ldc, w);
                }
            }
        }
    }

    /** The mr×NR sums of one tile, from 0.0 in ascending p, into {@code sums} (row-major, NR per row). */
    private static void tile(double[] ap, int ai, double[] bp, int bj, int pCount, double[] sums, int mr) {
        if (mr == 5) {
            tile5(ap, ai, bp, bj, pCount, sums);
        } else {
            tile6(ap, ai, bp, bj, pCount, sums);
        }
    }

    private static void tile5(double[] ap, int ai, double[] bp, int bj, int pCount, double[] sums) {
        DoubleVector c00 = DoubleVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        DoubleVector c30 = c00, c31 = c00, c40 = c00, c41 = c00;
        for (int p = 0; p < pCount; p++) {
            int bo = bj + p * NR;
            int ao = ai + p * 5;
            DoubleVector b0 = DoubleVector.fromArray(S, bp, bo);
            DoubleVector b1 = DoubleVector.fromArray(S, bp, bo + V);
            DoubleVector x = DoubleVector.broadcast(S, ap[ao]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = DoubleVector.broadcast(S, ap[ao + 1]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = DoubleVector.broadcast(S, ap[ao + 2]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = DoubleVector.broadcast(S, ap[ao + 3]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = DoubleVector.broadcast(S, ap[ao + 4]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
        }
        c00.intoArray(sums, 0);
        c01.intoArray(sums, V);
        c10.intoArray(sums, NR);
        c11.intoArray(sums, NR + V);
        c20.intoArray(sums, 2 * NR);
        c21.intoArray(sums, 2 * NR + V);
        c30.intoArray(sums, 3 * NR);
        c31.intoArray(sums, 3 * NR + V);
        c40.intoArray(sums, 4 * NR);
        c41.intoArray(sums, 4 * NR + V);
    }

    private static void tile6(double[] ap, int ai, double[] bp, int bj, int pCount, double[] sums) {
        DoubleVector c00 = DoubleVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        DoubleVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int p = 0; p < pCount; p++) {
            int bo = bj + p * NR;
            int ao = ai + p * 6;
            DoubleVector b0 = DoubleVector.fromArray(S, bp, bo);
            DoubleVector b1 = DoubleVector.fromArray(S, bp, bo + V);
            DoubleVector x = DoubleVector.broadcast(S, ap[ao]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = DoubleVector.broadcast(S, ap[ao + 1]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = DoubleVector.broadcast(S, ap[ao + 2]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = DoubleVector.broadcast(S, ap[ao + 3]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = DoubleVector.broadcast(S, ap[ao + 4]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = DoubleVector.broadcast(S, ap[ao + 5]);
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
        }
        c00.intoArray(sums, 0);
        c01.intoArray(sums, V);
        c10.intoArray(sums, NR);
        c11.intoArray(sums, NR + V);
        c20.intoArray(sums, 2 * NR);
        c21.intoArray(sums, 2 * NR + V);
        c30.intoArray(sums, 3 * NR);
        c31.intoArray(sums, 3 * NR + V);
        c40.intoArray(sums, 4 * NR);
        c41.intoArray(sums, 4 * NR + V);
        c50.intoArray(sums, 5 * NR);
        c51.intoArray(sums, 5 * NR + V);
    }

    /**
     * C(r, ·) ±= the tile's sums, one add or subtract per element. Kept out of {@link #tile}: with
     * both signs in one compiled tile, C2 made its loop about 2× slower (measured).
     */
    private static void merge(double[] sums, double[] c, int cij, int ldc, boolean subtract, int mr) {
        for (int r = 0; r < mr; r++) {
            int at = cij + r * ldc;
            for (int v = 0; v < NR; v += V) {
                DoubleVector o = DoubleVector.fromArray(S, c, at + v);
                DoubleVector x = DoubleVector.fromArray(S, sums, r * NR + v);
                (subtract ? o.sub(x) : o.add(x)).intoArray(c, at + v);
            }
        }
    }

    /**
     * The reference of the tests, unpacked: the same sums one element at a time, A(i, p) =
     * a[ao + i·ais + p·aps], B(p, j) = b[bo + p·ldb + j].
     */
    static void scalar(double[] a, int ao, int ais, int aps, double[] b, int bo, int ldb, double[] c, int co, int ldc,
                       int iCount, int jCount, int pCount, int diag, boolean subtract) {
        for (int i = 0; i < iCount; i++) {
            int jEnd = (int) Math.min(jCount, (long) i + diag + 1);
            for (int j = 0; j < jEnd; j++) {
                double s = 0.0;
                for (int p = 0; p < pCount; p++) {
                    s = Math.fma(a[ao + i * ais + p * aps], b[bo + p * ldb + j], s);
                }
                int at = co + i * ldc + j;
                c[at] = subtract ? c[at] - s : c[at] + s;
            }
        }
    }
}
