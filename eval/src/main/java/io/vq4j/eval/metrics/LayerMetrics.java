package io.vq4j.eval.metrics;

import java.util.SplittableRandom;

/**
 * Per-tensor fidelity of a quantized weight matrix Ŵ against the original W (rows × cols,
 * row-major): the numbers that can look near-lossless for a configuration whose stacked
 * perplexity is much worse. All sums in double, in index order.
 */
public final class LayerMetrics {
    private LayerMetrics() {
    }

    /**
     * Output fidelity on a set of inputs: Y = X Wᵀ against Ŷ = X Ŵᵀ, over all entries.
     *
     * @param cosine   Σ y ŷ / (‖Y‖ ‖Ŷ‖) (1 when both are zero)
     * @param relError ‖Y − Ŷ‖ / ‖Y‖ (Frobenius; 0 when both are zero, infinite when only Y is)
     */
    public record Fidelity(double cosine, double relError) {
    }

    /** Mean squared error Σ (w − ŵ)² / count. */
    public static double mse(float[] w, float[] q) {
        check(w, q);
        double s = 0;
        for (int i = 0; i < w.length; i++) {
            double e = (double) w[i] - q[i];
            s += e * e;
        }
        return s / w.length;
    }

    /** Signal-to-quantization-noise ratio 10·log10(Σ w² / Σ (w − ŵ)²) in dB; +∞ when Ŵ = W. */
    public static double sqnrDb(float[] w, float[] q) {
        check(w, q);
        double signal = 0;
        double noise = 0;
        for (int i = 0; i < w.length; i++) {
            double e = (double) w[i] - q[i];
            signal += (double) w[i] * w[i];
            noise += e * e;
        }
        return noise == 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(signal / noise);
    }

    /**
     * The Hessian-weighted error Σ_r (w_r − ŵ_r) H (w_r − ŵ_r)ᵀ = tr(E H Eᵀ), the proxy loss
     * GPTQ and GPTVQ minimise, with H (cols × cols, row-major) = XᵀX of the layer's inputs.
     */
    public static double hessianError(float[] w, float[] q, int rows, int cols, double[] h) {
        check(w, q);
        if (w.length != (long) rows * cols || h.length != (long) cols * cols) {
            throw new IllegalArgumentException("hessianError: " + w.length + " weights, H of " + h.length + " for "
                    + rows + "x" + cols);
        }
        double total = 0;
        double[] e = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                e[c] = (double) w[r * cols + c] - q[r * cols + c];
            }
            for (int a = 0; a < cols; a++) {
                if (e[a] == 0) {
                    continue;
                }
                double s = 0;
                for (int b = 0; b < cols; b++) {
                    s += h[a * cols + b] * e[b];
                }
                total += e[a] * s;
            }
        }
        return total;
    }

    /** Output fidelity on n input rows x (n × cols). */
    public static Fidelity outputFidelity(float[] w, float[] q, int rows, int cols, float[] x, int n) {
        check(w, q);
        if (w.length != (long) rows * cols || x.length < (long) n * cols) {
            throw new IllegalArgumentException("outputFidelity: " + w.length + " weights, " + x.length
                    + " inputs for " + rows + "x" + cols + ", n = " + n);
        }
        double yy = 0;
        double qq = 0;
        double yq = 0;
        double ee = 0;
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < rows; r++) {
                double y = 0;
                double z = 0;
                for (int c = 0; c < cols; c++) {
                    double xv = x[t * cols + c];
                    y += w[r * cols + c] * xv;
                    z += q[r * cols + c] * xv;
                }
                yy += y * y;
                qq += z * z;
                yq += y * z;
                ee += (y - z) * (y - z);
            }
        }
        double cos = yy == 0 && qq == 0 ? 1 : yq / Math.sqrt(yy * qq);
        double rel = yy == 0 ? (ee == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(ee / yy);
        return new Fidelity(cos, rel);
    }

    /** n × cols standard Gaussian inputs from a seed. */
    public static float[] gaussianInputs(int n, int cols, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    private static void check(float[] w, float[] q) {
        if (w.length != q.length || w.length == 0) {
            throw new IllegalArgumentException("weights of " + w.length + " and " + q.length + " values");
        }
    }
}
