package io.vq4j.kernels.cpu;

import io.vq4j.core.Parallel;

import java.util.Arrays;

/**
 * The arithmetic of the Llama decoder forward on host arrays, written once: the model's
 * {@code DecoderBlock} (evaluation and calibration) and {@link HostForwardOps} (the CPU backend's
 * forward ops, the reference the device kernels of vq.cl are tested against) both call these.
 */
public final class ForwardKernels {
    /**
     * Elements per parallel chunk of the element-wise steps (each element on its own, so the split
     * changes no bits): a decode step's one row runs inline, a calibration batch on every thread.
     */
    private static final int ELEMENTS = 1 << 15;

    private ForwardKernels() {
    }

    /** RMSNorm of each of {@code rows} rows of width dim (sum of squares in double, see {@link CpuKernels#rmsnorm}). */
    public static void rmsnormRows(float[] x, int xo, float[] g, float eps, float[] out, int oo, int rows, int dim) {
        Parallel.forChunks(0, rows, Math.max(1, ELEMENTS / Math.max(1, dim)), (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                CpuKernels.rmsnorm(x, xo + r * dim, g, eps, out, oo + r * dim, dim);
            }
        });
    }

    /** x[i] += d[i] for i in [0, n). */
    public static void addInPlace(float[] x, float[] d, int n) {
        Parallel.forChunks(0, n, ELEMENTS, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                x[i] += d[i];
            }
        });
    }

    /** gate <- silu(gate) * up. */
    public static void swiglu(float[] gate, float[] up, int n) {
        Parallel.forChunks(0, n, ELEMENTS, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                float g = gate[i];
                gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
            }
        });
    }

    /**
     * The RoPE table of positions [first, first + count): row r holds cos(p·invFreq[i]) for i < half,
     * then sin(p·invFreq[i]), p = first + r, each computed in double and rounded to float (headDim =
     * 2·half floats a row).
     */
    public static float[] ropeTable(double[] invFreq, int first, int count) {
        int half = invFreq.length;
        float[] t = new float[count * 2 * half];
        for (int p = 0; p < count; p++) {
            for (int i = 0; i < half; i++) {
                double angle = (double) (first + p) * invFreq[i];
                t[p * 2 * half + i] = (float) Math.cos(angle);
                t[p * 2 * half + half + i] = (float) Math.sin(angle);
            }
        }
        return t;
    }

    /**
     * Rotates every head of {@code rows} rows (heads × headDim floats each) by the angles of table
     * rows {@code tableRow...} (one row per position, {@link #ropeTable}): pairs (i, i + headDim/2) (Hugging Face rotate_half),
     * or pairs (2i, 2i + 1) when {@code interleaved} (llama2.c, GGUF).
     */
    public static void rope(float[] a, int rows, int heads, int headDim, float[] table, int tableRow,
                            boolean interleaved) {
        int half = headDim / 2;
        int width = heads * headDim;
        for (int t = 0; t < rows; t++) {
            int tr = (tableRow + t) * headDim;
            for (int h = 0; h < heads; h++) {
                int base = t * width + h * headDim;
                for (int i = 0; i < half; i++) {
                    float cos = table[tr + i];
                    float sin = table[tr + half + i];
                    int i0 = interleaved ? base + 2 * i : base + i;
                    int i1 = interleaved ? i0 + 1 : i0 + half;
                    float x0 = a[i0];
                    float x1 = a[i1];
                    a[i0] = x0 * cos - x1 * sin;
                    a[i1] = x1 * cos + x0 * sin;
                }
            }
        }
    }

    /**
     * Causal grouped-query attention of {@code rows} new queries (rows × heads·headDim) at
     * positions {@code start...} over the cached keys and values of positions [0, start + rows)
     * (kvHeads·headDim floats a position); query head h reads kv head h / (heads / kvHeads). Two
     * matmuls per head through the packed kernel: S = Q·Kᵀ, a masked softmax per row (scaled by
     * 1/√headDim, shifted by the row maximum, summed in order), then O = softmax(S)·V. Heads run in
     * parallel.
     */
    public static void attention(float[] q, float[] keys, float[] values, float[] out, int rows, int start,
                                 int heads, int kvHeads, int headDim) {
        int hd = headDim;
        int kvDim = kvHeads * hd;
        int qDim = heads * hd;
        int group = heads / kvHeads;
        int positions = start + rows;
        float scale = (float) (1.0 / Math.sqrt(hd));
        Parallel.forEach(0, heads, h -> {
            int kv = (h / group) * hd;
            float[] qh = new float[rows * hd];
            for (int t = 0; t < rows; t++) {
                System.arraycopy(q, t * qDim + h * hd, qh, t * hd, hd);
            }
            float[] kh = new float[positions * hd];
            float[] vt = new float[hd * positions]; // V transposed: [hd][positions]
            for (int j = 0; j < positions; j++) {
                System.arraycopy(keys, j * kvDim + kv, kh, j * hd, hd);
                for (int i = 0; i < hd; i++) {
                    vt[i * positions + j] = values[j * kvDim + kv + i];
                }
            }
            float[] scores = new float[rows * positions];
            PackedMatmul.pack(kh, positions, hd).multiply(qh, rows, null, scores);
            for (int t = 0; t < rows; t++) {
                int row = t * positions;
                int visible = start + t + 1;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < visible; j++) {
                    scores[row + j] *= scale;
                    max = Math.max(max, scores[row + j]);
                }
                float sum = 0f;
                for (int j = 0; j < visible; j++) {
                    float e = (float) Math.exp(scores[row + j] - max);
                    scores[row + j] = e;
                    sum += e;
                }
                float inv = 1f / sum;
                for (int j = 0; j < visible; j++) {
                    scores[row + j] *= inv;
                }
                Arrays.fill(scores, row + visible, row + positions, 0f); // causal mask
            }
            float[] oh = new float[rows * hd];
            PackedMatmul.pack(vt, hd, positions).multiply(scores, rows, null, oh);
            for (int t = 0; t < rows; t++) {
                System.arraycopy(oh, t * hd, out, t * qDim + h * hd, hd);
            }
        });
    }

    /** −log softmax(row)[target] of one row of n logits, in double, shifted by the maximum. */
    public static double negLogSoftmax(float[] logits, int from, int n, int target) {
        return logSumExp(logits, from, n) - logits[from + target];
    }

    /** log Σ exp(logits[from .. from+n)), in double, shifted by the maximum (the one definition: eval's too). */
    public static double logSumExp(float[] logits, int from, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, logits[from + i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(logits[from + i] - max);
        }
        return Math.log(sum) + max;
    }

    /** KL(softmax(p) ‖ softmax(q)) over logits[from .. from+n), in double (clamped at 0). */
    public static double kl(float[] p, float[] q, int from, int n) {
        double lp = logSumExp(p, from, n);
        double lq = logSumExp(q, from, n);
        double s = 0;
        for (int i = 0; i < n; i++) {
            double a = p[from + i] - lp;
            double b = q[from + i] - lq;
            s += Math.exp(a) * (a - b);
        }
        return Math.max(0, s);
    }
}
