package io.vq4j.kernels.linalg;

/**
 * The retry of the factorisation when H is not numerically positive definite, the same on every
 * backend (quant.core.Linalg uses it; the backends' parity tests check that a device takes the
 * same number of tries as the CPU): the factor of H, else of H + λ·|mean(diag H)|·I for
 * λ = 0.01, 0.02, 0.04, … ({@value #RETRIES} tries; the mean is 1 when it is 0 or not finite).
 */
public final class DampedFactor {
    /** Tries after the undamped one. */
    public static final int RETRIES = 10;
    /** λ of the last try. */
    public static final double LAST_LAMBDA = 0.01 * (1 << (RETRIES - 1));

    /** A factorisation in place (a backend's inverseCholeskyUpper): false when the matrix is not positive definite. */
    @FunctionalInterface
    public interface InPlace {
        boolean factor(double[] a, int n);
    }

    private DampedFactor() {
    }

    /**
     * U for H (left as it was), or null when even the last damping fails. {@code tries}, when not
     * null, gets in [0] the number of factorisations run. Holds one n×n array beside H.
     */
    public static double[] factor(InPlace f, double[] h, int n, int[] tries) {
        double[] u = h.clone();
        int runs = 1;
        try {
            if (f.factor(u, n)) {
                return u;
            }
            double mean = 0;
            for (int i = 0; i < n; i++) {
                mean += h[i * n + i];
            }
            mean = Math.abs(mean / n);
            if (!(mean > 0) || !Double.isFinite(mean)) {
                mean = 1;
            }
            double lambda = 0.01;
            for (int attempt = 0; attempt < RETRIES; attempt++, lambda *= 2) {
                System.arraycopy(h, 0, u, 0, n * n);
                for (int i = 0; i < n; i++) {
                    u[i * n + i] += lambda * mean;
                }
                runs++;
                if (f.factor(u, n)) {
                    return u;
                }
            }
            return null;
        } finally {
            if (tries != null) {
                tries[0] = runs;
            }
        }
    }
}
