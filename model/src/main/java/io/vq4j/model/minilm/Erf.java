package io.vq4j.model.minilm;

/**
 * The error function for the exact GELU, x·½(1 + erf(x/√2)), which BERT uses (Java has no
 * erf). A table of erf and its derivative 2/√π·e^(−x²) at steps of 1/256 on [0, 6], filled
 * from the everywhere-positive series erf(x) = 2/√π·e^(−x²)·Σ x(2x²)ⁿ/(2n+1)!! (Abramowitz &
 * Stegun 7.1.6), is read by cubic Hermite interpolation: error ≤ h⁴/384·max|erf⁗| ≈ 3e-12,
 * far below a float's resolution, at a few flops per call and the same bits on every run.
 * Beyond 6, erf is 1 to double precision (erfc(6) ≈ 2e-17).
 */
final class Erf {
    private static final int STEPS_PER_UNIT = 256;
    private static final double LIMIT = 6.0;
    private static final int N = (int) (LIMIT * STEPS_PER_UNIT);
    private static final double H = 1.0 / STEPS_PER_UNIT;
    private static final double TWO_OVER_SQRT_PI = 2.0 / Math.sqrt(Math.PI);
    private static final double[] VALUE = new double[N + 2];
    private static final double[] SLOPE = new double[N + 2];

    static {
        for (int k = 0; k <= N + 1; k++) {
            double x = k * H;
            VALUE[k] = series(x);
            SLOPE[k] = TWO_OVER_SQRT_PI * Math.exp(-x * x);
        }
    }

    private Erf() {
    }

    /** erf by the series alone (slow; for the table and for tests). */
    static double series(double x) {
        double term = x;
        double sum = x;
        double twoX2 = 2 * x * x;
        for (int n = 1; n < 1000; n++) {
            term *= twoX2 / (2 * n + 1);
            sum += term;
            if (term < 1e-17 * sum) {
                break;
            }
        }
        return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
    }

    static double erf(double x) {
        double a = Math.abs(x);
        if (!(a < LIMIT)) {
            return Double.isNaN(x) ? x : Math.copySign(1.0, x);
        }
        double u = a * STEPS_PER_UNIT;
        int k = (int) u;
        double t = u - k;
        double t2 = t * t;
        double t3 = t2 * t;
        double v = (2 * t3 - 3 * t2 + 1) * VALUE[k] + (t3 - 2 * t2 + t) * H * SLOPE[k]
                + (3 * t2 - 2 * t3) * VALUE[k + 1] + (t3 - t2) * H * SLOPE[k + 1];
        return Math.copySign(v, x);
    }

    /** GELU with erf, in double, rounded once to float. */
    static float gelu(float x) {
        return (float) (0.5 * x * (1.0 + erf(x * 0.7071067811865476)));
    }
}
