package io.vq4j.kernels.linalg;

import java.util.Arrays;

/**
 * The scalar reference of {@link InverseCholesky} (the code gptq, gptvq and vptq used before the
 * blocked form): U with UᵀU = H⁻¹ in double, one element at a time.
 *
 * <p>It is computed without forming H⁻¹. With J the order-reversing permutation, factor the
 * reversed matrix J H J = L Lᵀ (lower Cholesky). Then H⁻¹ = J L⁻ᵀ L⁻¹ J = (J L⁻¹ J)ᵀ (J L⁻¹ J),
 * and J L⁻¹ J is upper triangular with a positive diagonal, so by uniqueness it is U. One
 * Cholesky and one triangular inverse (≈ n³/3 multiply-adds) instead of Cholesky, inverse and a
 * second Cholesky (≈ 5n³/3 as GPTQ's reference does it). A side effect worth knowing:
 * U[n−1][n−1] = 1/√H[n−1][n−1].
 */
public final class ScalarInverseCholesky {
    private ScalarInverseCholesky() {
    }

    /**
     * U with UᵀU = H⁻¹, n×n row-major (zeros below the diagonal), or null when H is not
     * positive definite (a pivot ≤ 0 or not finite). H is left as it was.
     */
    public static double[] inverseCholeskyUpper(double[] h, int n) {
        double[] rev = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                rev[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
            }
        }
        double[] l = choleskyLower(rev, n);
        if (l == null) {
            return null;
        }
        double[] x = inverseLower(l, n);
        double[] u = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                u[i * n + j] = x[(n - 1 - i) * n + (n - 1 - j)];
            }
        }
        return u;
    }

    /** L with L Lᵀ = A (lower, row-major), or null if A is not positive definite. */
    static double[] choleskyLower(double[] a, int n) {
        double[] l = new double[n * n];
        for (int i = 0; i < n; i++) {
            int ri = i * n;
            for (int j = 0; j <= i; j++) {
                int rj = j * n;
                double s = a[ri + j];
                for (int k = 0; k < j; k++) { // both rows contiguous
                    s -= l[ri + k] * l[rj + k];
                }
                if (i == j) {
                    if (!(s > 0) || !Double.isFinite(s)) {
                        return null;
                    }
                    l[ri + i] = Math.sqrt(s);
                } else {
                    l[ri + j] = s / l[rj + j];
                }
            }
        }
        return l;
    }

    /** L⁻¹ of a lower-triangular L with a non-zero diagonal, row by row (row i uses rows < i). */
    static double[] inverseLower(double[] l, int n) {
        double[] x = new double[n * n];
        double[] acc = new double[n];
        for (int i = 0; i < n; i++) {
            int ri = i * n;
            Arrays.fill(acc, 0, i, 0.0);
            for (int k = 0; k < i; k++) { // acc[j] = Σ_{j ≤ k < i} L[i][k] X[k][j]
                double lik = l[ri + k];
                if (lik != 0) {
                    int rk = k * n;
                    for (int j = 0; j <= k; j++) {
                        acc[j] += lik * x[rk + j];
                    }
                }
            }
            double inv = 1.0 / l[ri + i];
            for (int j = 0; j < i; j++) {
                x[ri + j] = -acc[j] * inv;
            }
            x[ri + i] = inv;
        }
        return x;
    }
}
