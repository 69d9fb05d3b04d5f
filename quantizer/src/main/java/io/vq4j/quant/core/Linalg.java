package io.vq4j.quant.core;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.linalg.DampedFactor;
import io.vq4j.kernels.linalg.InverseCholesky;

/**
 * The one factorisation the GPTQ loop needs (gptq, gptvq and VPTQ's passes): the upper
 * Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU), in double, by the backend
 * ({@link Backend#inverseCholeskyUpper}: blocked, in place; the scalar reference is
 * io.vq4j.kernels.linalg.ScalarInverseCholesky). A side effect worth knowing:
 * U[n−1][n−1] = 1/√H[n−1][n−1].
 */
public final class Linalg {
    private Linalg() {
    }

    /** U with UᵀU = H⁻¹ (H left as it was) by the CPU's blocked code, or null when H is not positive definite. */
    public static double[] inverseCholeskyUpper(double[] h, int n) {
        double[] u = h.clone();
        return InverseCholesky.inPlace(u, n) ? u : null;
    }

    /**
     * U for H (left as it was), adding damping λ·mean(diag H)·I with λ = 0.01, 0.02, 0.04, …
     * (up to ten tries, {@link DampedFactor}) while H is not numerically positive definite — the caller's Hessian is
     * already dampened, so this only triggers on degenerate input. Holds one n×n array beside H.
     * Inside a {@link SharedFactors} scope an H equal to one already factored there gets that
     * factor back (shared: read it, do not write it).
     */
    public static double[] inverseCholeskyUpperDamped(Backend backend, double[] h, int n, String layer) {
        return SharedFactors.factor(backend, h, n, () -> damped(backend, h, n, layer));
    }

    private static double[] damped(Backend backend, double[] h, int n, String layer) {
        double[] u = DampedFactor.factor(backend::inverseCholeskyUpper, h, n, null);
        if (u == null) {
            throw new IllegalStateException("the Hessian of " + layer + " is not positive definite even with damping "
                    + DampedFactor.LAST_LAMBDA + " x mean(diag H)");
        }
        return u;
    }
}
