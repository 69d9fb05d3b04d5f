package io.vq4j.model.minilm;

import io.vq4j.core.Parallel;
import io.vq4j.kernels.cpu.PackedMatmul;

/**
 * The encoder's non-linear steps on row-major [tokens × width] activations. Reductions
 * (LayerNorm moments, softmax sums, pooling) run in double in a fixed order; matrix products
 * go through {@link PackedMatmul}, whose lanes accumulate in k order whatever the tiling, so a
 * sentence gives the same bits alone or in any batch, on any thread count.
 */
final class EncoderOps {
    private EncoderOps() {
    }

    /** out[r] = (x[r] + delta[r] − mean) / sqrt(var + eps) · g + b; delta may be null; out may be x. */
    static void addLayerNorm(float[] x, float[] delta, float[] g, float[] b, float eps, float[] out, int rows, int dim) {
        Parallel.forChunks(0, rows, 64, (lo, hi) -> {
            double[] v = new double[dim];
            for (int r = lo; r < hi; r++) {
                int o = r * dim;
                double mean = 0;
                for (int i = 0; i < dim; i++) {
                    v[i] = delta == null ? x[o + i] : (double) (x[o + i] + delta[o + i]); // the sum is a float in the graph
                    mean += v[i];
                }
                mean /= dim;
                double var = 0;
                for (int i = 0; i < dim; i++) {
                    double c = v[i] - mean;
                    var += c * c;
                }
                double inv = 1.0 / Math.sqrt(var / dim + eps);
                for (int i = 0; i < dim; i++) {
                    out[o + i] = (float) ((v[i] - mean) * inv * g[i] + b[i]);
                }
            }
        });
    }

    static void gelu(float[] a, int n) {
        Parallel.forChunks(0, n, 1 << 14, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                a[i] = Erf.gelu(a[i]);
            }
        });
    }

    /**
     * Bidirectional softmax attention within each sequence (rows [start, start+length) of q, k,
     * v, all [tokens × heads·headDim]): out = softmax(q·kᵀ / divisor)·v per head. No padding,
     * so no mask. Sequence × head tasks run in parallel, each writing its own slots.
     */
    static void attention(float[] q, float[] k, float[] v, float[] out, int[] starts, int[] lengths, int heads,
                          int headDim, float divisor) {
        int width = heads * headDim;
        Parallel.forEach(0, starts.length * heads, task -> {
            int s = task / heads;
            int h = task % heads;
            int n = lengths[s];
            int first = starts[s];
            float[] qh = new float[n * headDim];
            float[] kh = new float[n * headDim];
            float[] vt = new float[headDim * n]; // V transposed: [headDim][n]
            for (int t = 0; t < n; t++) {
                int src = (first + t) * width + h * headDim;
                System.arraycopy(q, src, qh, t * headDim, headDim);
                System.arraycopy(k, src, kh, t * headDim, headDim);
                for (int d = 0; d < headDim; d++) {
                    vt[d * n + t] = v[src + d];
                }
            }
            float[] scores = new float[n * n];
            PackedMatmul.pack(kh, n, headDim).multiply(qh, n, null, scores);
            double[] e = new double[n];
            for (int t = 0; t < n; t++) {
                int row = t * n;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    scores[row + j] /= divisor;
                    max = Math.max(max, scores[row + j]);
                }
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    e[j] = Math.exp(scores[row + j] - max);
                    sum += e[j];
                }
                for (int j = 0; j < n; j++) {
                    scores[row + j] = (float) (e[j] / sum);
                }
            }
            float[] oh = new float[n * headDim];
            PackedMatmul.pack(vt, headDim, n).multiply(scores, n, null, oh);
            for (int t = 0; t < n; t++) {
                System.arraycopy(oh, t * headDim, out, (first + t) * width + h * headDim, headDim);
            }
        });
    }

    /** The mean of rows [start, start+n) (every token, [CLS] and [SEP] included), scaled to unit length. */
    static float[] meanPoolNormalized(float[] x, int start, int n, int dim) {
        double[] m = new double[dim];
        for (int t = 0; t < n; t++) {
            int o = (start + t) * dim;
            for (int i = 0; i < dim; i++) {
                m[i] += x[o + i];
            }
        }
        double norm = 0;
        for (int i = 0; i < dim; i++) {
            m[i] /= n;
            norm += m[i] * m[i];
        }
        norm = Math.sqrt(norm);
        float[] out = new float[dim];
        for (int i = 0; i < dim; i++) {
            out[i] = (float) (norm > 0 ? m[i] / norm : 0);
        }
        return out;
    }
}
