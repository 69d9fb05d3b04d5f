package io.vq4j.kernels;

import io.vq4j.kernels.assign.GemmAssign;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Index parity of the matmul form ({@link Backend#assignNearestGemm}) with the exact kernel up to
 * near-ties, as the SPI states it: where the two indices differ, the exact distances of the two
 * centroids (in double, from the same floats: exact to about 1e-16 relative) must differ by at
 * most tol_a + tol_b, tol_c = (2d + 4) u Σ_j w_j (|x_j| + |c_j|)², u = 2⁻²⁴. Any wider difference
 * fails. Computed here from the inputs, independently of the backends' code.
 */
public final class NearTies {
    static final double U = 0x1p-24;

    private NearTies() {
    }

    /** Σ w (x − c)² in double. */
    static double exact(float[] x, float[] w, int i, int d, float[] cb, int c) {
        double s = 0;
        for (int j = 0; j < d; j++) {
            double diff = (double) x[i * d + j] - cb[c * d + j];
            s += (w == null ? 1.0 : w[i * d + j]) * diff * diff;
        }
        return s;
    }

    /** The rounding allowance of centroid c for vector i. */
    static double tolerance(float[] x, float[] w, int i, int d, float[] cb, int c) {
        double s = 0;
        for (int j = 0; j < d; j++) {
            double a = Math.abs((double) x[i * d + j]) + Math.abs((double) cb[c * d + j]);
            s += (w == null ? 1.0 : w[i * d + j]) * a * a;
        }
        return (2 * d + 4) * U * s;
    }

    /**
     * The number of vectors whose indices differ at a near-tie; throws AssertionError naming the
     * first vector whose indices differ by more than the allowance.
     */
    public static int count(String what, float[] x, float[] w, int n, int d, float[] cb, int[] exactIndex,
                            int[] gemmIndex) {
        int ties = 0;
        for (int i = 0; i < n; i++) {
            int a = exactIndex[i];
            int b = gemmIndex[i];
            if (a == b) {
                continue;
            }
            double da = exact(x, w, i, d, cb, a);
            double db = exact(x, w, i, d, cb, b);
            double allowed = tolerance(x, w, i, d, cb, a) + tolerance(x, w, i, d, cb, b);
            if (!(Math.abs(da - db) <= allowed)) {
                throw new AssertionError(what + ": vector " + i + ": exact kernel chose " + a + " (distance " + da
                        + "), matmul form " + b + " (" + db + "): they differ by " + Math.abs(da - db)
                        + ", more than the near-tie allowance " + allowed);
            }
            ties++;
        }
        return ties;
    }

    /**
     * Runs both forms on {@code backend}, checks the indices up to near-ties and that every
     * distance of the matmul form is the defined distance of its index, to the bit (where the
     * indices agree: the exact kernel's distance). Returns the number of near-ties.
     */
    public static int check(String what, Backend backend, float[] x, float[] w, int n, int d, float[] cb, int k) {
        int[] i1 = new int[n];
        int[] i2 = new int[n];
        float[] d1 = new float[n];
        float[] d2 = new float[n];
        backend.assignNearest(x, w, n, d, cb, k, i1, d1);
        backend.assignNearestGemm(x, w, n, d, cb, k, i2, d2);
        int ties = count(what, x, w, n, d, cb, i1, i2);
        for (int i = 0; i < n; i++) {
            float defined = GemmAssign.distance(x, w, i, d, cb, i2[i]);
            assertEquals(Float.floatToIntBits(defined), Float.floatToIntBits(d2[i]),
                    what + ": distance of vector " + i + " is the defined distance to its index");
            if (i1[i] == i2[i]) {
                assertEquals(Float.floatToIntBits(d1[i]), Float.floatToIntBits(d2[i]),
                        what + ": distance of vector " + i + " as the exact kernel's");
            }
        }
        return ties;
    }
}
