package io.vq4j.quant.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.cpu.CpuBackend;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LinalgTest {
    private static final Backend CPU = new CpuBackend();

    @Test
    void twoByTwoByHand() {
        // H = [[4, 2], [2, 3]], det 8, H⁻¹ = [[3, −2], [−2, 4]] / 8.
        // UᵀU = H⁻¹ with U upper: U00² = 3/8; U00·U01 = −2/8 → U01 = −(1/4)/√(3/8);
        // U11² = 4/8 − U01² = 1/2 − (1/16)/(3/8) = 1/2 − 1/6 = 1/3 (= 1/H11, as for any last column).
        double[] u = Linalg.inverseCholeskyUpper(new double[] {4, 2, 2, 3}, 2);
        assertEquals(Math.sqrt(3.0 / 8), u[0], 1e-15);
        assertEquals(-0.25 / Math.sqrt(3.0 / 8), u[1], 1e-15);
        assertEquals(0.0, u[2]);
        assertEquals(Math.sqrt(1.0 / 3), u[3], 1e-15);
    }

    @Test
    void factorOfTheInverseOnARandomPositiveDefiniteMatrix() {
        int n = 7;
        double[] h = spd(n, 3);
        double[] u = Linalg.inverseCholeskyUpper(h, n);
        // upper triangular with a positive diagonal, and Uᵀ U H = I
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < i; j++) {
                assertEquals(0.0, u[i * n + j]);
            }
            assertEquals(true, u[i * n + i] > 0);
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int m = 0; m < n; m++) {
                    double inv = 0; // (UᵀU)[i][m]
                    for (int t = 0; t < n; t++) {
                        inv += u[t * n + i] * u[t * n + m];
                    }
                    s += inv * h[m * n + j];
                }
                assertEquals(i == j ? 1.0 : 0.0, s, 1e-10, "(UᵀU H)[" + i + "][" + j + "]");
            }
        }
    }

    @Test
    void notPositiveDefiniteGivesNullAndDampingRepairsIt() {
        // [[1, 2], [2, 1]] has eigenvalues 3 and −1
        double[] h = {1, 2, 2, 1};
        assertNull(Linalg.inverseCholeskyUpper(h, 2));
        // mean diag 1; damping 0.01·2^t reaches > 1 (PD) at t = 7 (1.28) — within the ten tries
        double[] u = Linalg.inverseCholeskyUpperDamped(CPU, h, 2, "layer");
        assertEquals(1 / Math.sqrt(1 + 1.28), u[3], 1e-12);
        // a hopeless matrix names the layer
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Linalg.inverseCholeskyUpperDamped(CPU, new double[] {1, 100, 100, 1}, 2, "model.x"));
        assertEquals(true, e.getMessage().startsWith("the Hessian of model.x"));
    }

    static double[] spd(int n, long seed) {
        SplittableRandom g = new SplittableRandom(seed);
        double[] a = new double[n * n];
        for (int i = 0; i < a.length; i++) {
            a[i] = g.nextGaussian();
        }
        double[] h = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = i == j ? 0.5 : 0;
                for (int t = 0; t < n; t++) {
                    s += a[i * n + t] * a[j * n + t];
                }
                h[i * n + j] = s;
            }
        }
        return h;
    }
}
