package io.vq4j.kernels.linalg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The product kernel gives every element the bits of its own scalar sum, wherever its tile starts:
 * so however rows and columns are split across threads (Parallel's chunks depend on the thread
 * count), the factor and the Hessian come out the same. Each check runs with both register tiles
 * (5 rows, AVX2's default, and 6, AVX-512's), whichever this machine's default is.
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
                                int ldc, int m, int n, int p, int diag, boolean subtract, int mr) {
        double[] ap = new double[DoubleKernel.packedA(m, p, mr)];
        double[] bp = new double[DoubleKernel.packedB(p, n)];
        DoubleKernel.packA(a, ao, ais, aps, m, p, ap, 0, mr);
        DoubleKernel.packB(b, bo, ldb, 1, p, n, bp, 0);
        DoubleKernel.product(ap, 0, bp, 0, p, p, c, co, ldc, m, n, diag, subtract, mr);
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

    @ParameterizedTest(name = "{0}-row tile")
    @ValueSource(ints = {5, 6})
    void everyElementIsItsOwnScalarSumWhateverTheSplit(int mr) {
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
            product(a, 0, ais, aps, b, 0, n, whole, 0, n, m, n, p, Integer.MAX_VALUE, true, mr);
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
                            t[3] - t[2], p, Integer.MAX_VALUE, true, mr);
                }
                assertArrayEquals(want, cut, "cut at row " + r + ", column " + q);
            }
        }
    }

    @ParameterizedTest(name = "{0}-row tile")
    @ValueSource(ints = {5, 6})
    void theDiagonalBoundLeavesTheRestUntouched(int mr) {
        SplittableRandom g = new SplittableRandom(2);
        int m = 30, n = 30, p = 9;
        double[] a = random(g, m * p);
        double[] b = random(g, p * n);
        for (int diag : new int[] {0, 3, -2, 17}) {
            double[] c = random(g, m * n);
            double[] c0 = c.clone();
            product(a, 0, p, 1, b, 0, n, c, 0, n, m, n, p, diag, false, mr);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double want = j - i <= diag ? expected(a, p, 1, b, n, c0[i * n + j], i, j, p, false) : c0[i * n + j];
                    assertEquals(want, c[i * n + j], 0.0, "diag " + diag + " (" + i + ", " + j + ")");
                }
            }
        }
    }
}
