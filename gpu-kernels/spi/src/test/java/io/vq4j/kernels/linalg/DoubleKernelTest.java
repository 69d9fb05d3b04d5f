package io.vq4j.kernels.linalg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The product kernel gives every element the bits of its own scalar sum, wherever its tile starts:
 * so however rows and columns are split across threads (Parallel's chunks depend on the thread
 * count), the factor and the Hessian come out the same.
 */
class DoubleKernelTest {
    private static double[] random(SplittableRandom g, int n) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) {
            a[i] = g.nextGaussian();
        }
        return a;
    }

    /** Packs A(i, p) = a[ao + i·ais + p·aps] and B(p, j) = b[bo + p·ldb + j], then the kernel. */
    private static void product(double[] a, int ao, int ais, int aps, double[] b, int bo, int ldb, double[] c, int co,
                                int ldc, int m, int n, int p, int diag, boolean subtract) {
        double[] ap = new double[DoubleKernel.packedA(m, p)];
        double[] bp = new double[DoubleKernel.packedB(p, n)];
        DoubleKernel.packA(a, ao, ais, aps, m, p, ap, 0);
        DoubleKernel.packB(b, bo, ldb, 1, p, n, bp, 0);
        DoubleKernel.product(ap, 0, bp, 0, p, c, co, ldc, m, n, diag, subtract);
    }

    /** Element by element: Σ from 0.0 by fma in ascending p, then one add or subtract. */
    private static double expected(double[] a, int ais, int aps, double[] b, int ldb, double c, int i, int j, int p,
                                   boolean subtract) {
        double s = 0.0;
        for (int t = 0; t < p; t++) {
            s = Math.fma(a[i * ais + t * aps], b[t * ldb + j], s);
        }
        return subtract ? c - s : c + s;
    }

    @Test
    void everyElementIsItsOwnScalarSumWhateverTheSplit() {
        SplittableRandom g = new SplittableRandom(1);
        int m = 37, n = 45, p = 29;
        double[] a = random(g, m * p);
        double[] b = random(g, p * n);
        double[] c0 = random(g, m * n);
        for (boolean transposedA : new boolean[] {false, true}) {
            int ais = transposedA ? 1 : p;
            int aps = transposedA ? m : 1;
            double[] want = new double[m * n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    want[i * n + j] = expected(a, ais, aps, b, n, c0[i * n + j], i, j, p, true);
                }
            }
            double[] whole = c0.clone();
            product(a, 0, ais, aps, b, 0, n, whole, 0, n, m, n, p, Integer.MAX_VALUE, true);
            assertArrayEquals(want, whole);
            double[] reference = c0.clone();
            DoubleKernel.scalar(a, 0, ais, aps, b, 0, n, reference, 0, n, m, n, p, Integer.MAX_VALUE, true);
            assertArrayEquals(want, reference);
            for (int trial = 0; trial < 20; trial++) { // random cuts of rows and columns
                double[] cut = c0.clone();
                int r = g.nextInt(m + 1);
                int q = g.nextInt(n + 1);
                int[][] parts = {{0, r, 0, q}, {0, r, q, n}, {r, m, 0, q}, {r, m, q, n}};
                for (int[] t : parts) {
                    product(a, t[0] * ais, ais, aps, b, t[2], n, cut, t[0] * n + t[2], n, t[1] - t[0],
                            t[3] - t[2], p, Integer.MAX_VALUE, true);
                }
                assertArrayEquals(want, cut, "cut at row " + r + ", column " + q);
            }
        }
    }

    @Test
    void theDiagonalBoundLeavesTheRestUntouched() {
        SplittableRandom g = new SplittableRandom(2);
        int m = 30, n = 30, p = 9;
        double[] a = random(g, m * p);
        double[] b = random(g, p * n);
        for (int diag : new int[] {0, 3, -2, 17}) {
            double[] c = random(g, m * n);
            double[] c0 = c.clone();
            product(a, 0, p, 1, b, 0, n, c, 0, n, m, n, p, diag, false);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double want = j - i <= diag ? expected(a, p, 1, b, n, c0[i * n + j], i, j, p, false) : c0[i * n + j];
                    assertEquals(want, c[i * n + j], 0.0, "diag " + diag + " (" + i + ", " + j + ")");
                }
            }
        }
    }
}
