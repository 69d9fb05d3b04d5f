package io.vq4j.kernels.linalg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The blocked factor against the scalar reference. Tolerance: relative Frobenius error of U
 * ≤ 1e-11 and ‖UᵀU·H − I‖_F / √n ≤ 1e-10 on H = AAᵀ/n + I/2 (condition number ≲ 10³); the two
 * differ only in summation order, so the measured gap is near 1e-15.
 */
class InverseCholeskyTest {
    /** A symmetric positive definite n×n matrix with eigenvalues in about [0.5, 4.5]. */
    static double[] spd(int n, long seed) {
        SplittableRandom g = new SplittableRandom(seed);
        double[] a = new double[n * n];
        for (int i = 0; i < a.length; i++) {
            a[i] = g.nextGaussian();
        }
        double[] h = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int t = 0; t < n; t++) {
                    s += a[i * n + t] * a[j * n + t];
                }
                s = s / n + (i == j ? 0.5 : 0);
                h[i * n + j] = s;
                h[j * n + i] = s;
            }
        }
        return h;
    }

    static double relativeFrobenius(double[] got, double[] want) {
        double d = 0, w = 0;
        for (int i = 0; i < want.length; i++) {
            d += (got[i] - want[i]) * (got[i] - want[i]);
            w += want[i] * want[i];
        }
        return Math.sqrt(d / w);
    }

    /** ‖UᵀU·H − I‖_F / √n, as UᵀU·H = Uᵀ(U·H). */
    static double residual(double[] u, double[] h, int n) {
        double[] uh = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int t = i; t < n; t++) {
                double uit = u[i * n + t];
                for (int j = 0; j < n; j++) {
                    uh[i * n + j] += uit * h[t * n + j];
                }
            }
        }
        double r = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int t = 0; t <= Math.min(i, n - 1); t++) { // (Uᵀ)[i][t] = U[t][i], zero for t > i
                    s += u[t * n + i] * uh[t * n + j];
                }
                double e = s - (i == j ? 1 : 0);
                r += e * e;
            }
        }
        return Math.sqrt(r / n);
    }

    @Test
    void matchesTheScalarReferenceOnAwkwardSizes() {
        for (int n : new int[] {1, 2, 3, 63, 64, 65, 127, 128, 129, 257, 300}) {
            double[] h = spd(n, n);
            double[] want = ScalarInverseCholesky.inverseCholeskyUpper(h, n);
            double[] u = h.clone();
            assertTrue(InverseCholesky.inPlace(u, n), "n=" + n);
            for (int i = 0; i < n; i++) {
                assertTrue(u[i * n + i] > 0, "diagonal n=" + n);
                for (int j = 0; j < i; j++) {
                    assertEquals(0.0, u[i * n + j], "below the diagonal n=" + n);
                }
            }
            double err = relativeFrobenius(u, want);
            assertTrue(err <= 1e-11, "n=" + n + ": relative Frobenius error " + err);
            if (n <= 129) {
                double res = residual(u, h, n);
                assertTrue(res <= 1e-10, "n=" + n + ": ||U'U H - I|| " + res);
            }
        }
    }

    @Test
    void onlyTheUpperTriangleIsReadAsTheReference() {
        int n = 130;
        double[] h = spd(n, 7);
        double[] junk = h.clone();
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < i; j++) {
                junk[i * n + j] = Double.NaN;
            }
        }
        double[] u = h.clone();
        assertTrue(InverseCholesky.inPlace(u, n));
        assertTrue(InverseCholesky.inPlace(junk, n));
        assertArrayEquals(u, junk);
    }

    @Test
    void sameBitsOnEveryRun() {
        int n = 300;
        double[] h = spd(n, 11);
        double[] u1 = h.clone();
        double[] u2 = h.clone();
        InverseCholesky.inPlace(u1, n);
        InverseCholesky.inPlace(u2, n);
        assertArrayEquals(u1, u2);
    }

    @Test
    void notPositiveDefiniteIsReportedWherever() {
        // a negative pivot in the first block, in a later block, a NaN, a zero pivot
        for (int n : new int[] {2, 65, 200}) {
            for (int bad : new int[] {0, n / 2, n - 1}) {
                double[] h = spd(n, 3);
                h[bad * n + bad] = -5;
                assertNull(ScalarInverseCholesky.inverseCholeskyUpper(h, n), "reference n=" + n + " bad=" + bad);
                assertFalse(InverseCholesky.inPlace(h.clone(), n), "n=" + n + " bad=" + bad);
                h[bad * n + bad] = Double.NaN;
                assertFalse(InverseCholesky.inPlace(h.clone(), n), "NaN n=" + n + " bad=" + bad);
            }
            double[] singular = new double[n * n]; // rank one: x xᵀ
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    singular[i * n + j] = (i + 1.0) * (j + 1.0);
                }
            }
            if (n > 1) {
                assertFalse(InverseCholesky.inPlace(singular, n), "rank one n=" + n);
            }
        }
    }

    @Test
    void deadColumnsAsTheHessianMakesThem() {
        // HessianAccumulator gives a column that saw no input H_ii = 1 and zeros elsewhere in its row
        // and column: U is then 1 on that diagonal entry, 0 elsewhere in its row and column.
        int n = 150;
        double[] h = spd(n, 5);
        int[] dead = {0, 64, 77, 149};
        for (int d : dead) {
            for (int t = 0; t < n; t++) {
                h[d * n + t] = 0;
                h[t * n + d] = 0;
            }
            h[d * n + d] = 1;
        }
        double[] want = ScalarInverseCholesky.inverseCholeskyUpper(h, n);
        double[] u = h.clone();
        assertTrue(InverseCholesky.inPlace(u, n));
        assertTrue(relativeFrobenius(u, want) <= 1e-11);
        for (int d : dead) {
            for (int t = 0; t < n; t++) {
                assertEquals(t == d ? 1.0 : 0.0, u[d * n + t], 0.0, "row " + d);
                assertEquals(t == d ? 1.0 : 0.0, u[t * n + d], 0.0, "column " + d);
            }
        }
    }

    @Test
    void illConditionedStaysCloseToTheReference() {
        // eigenvalues spread over 1e-6..1 (a damped real Hessian is milder): the gap grows with the
        // condition number, as for any two summation orders, and stays small beside it
        int n = 200;
        double[] h = spd(n, 9);
        for (int i = 0; i < n; i++) {
            double s = Math.pow(10, -3.0 * i / (n - 1));
            for (int j = 0; j < n; j++) {
                h[i * n + j] *= s;
                h[j * n + i] *= s;
            }
        }
        double[] want = ScalarInverseCholesky.inverseCholeskyUpper(h, n);
        double[] u = h.clone();
        assertTrue(InverseCholesky.inPlace(u, n));
        double err = relativeFrobenius(u, want);
        assertTrue(err <= 1e-8, "relative Frobenius error " + err);
    }
}
