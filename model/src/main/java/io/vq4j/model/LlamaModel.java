package io.vq4j.model;

import io.vq4j.core.Parallel;
import io.vq4j.kernels.cpu.CpuKernels;
import io.vq4j.kernels.cpu.PackedMatmul;

import java.util.Arrays;

/**
 * The Llama-family forward pass on the CPU: RMSNorm, RoPE (Hugging Face rotate_half
 * convention, optional Llama-3 frequency scaling), grouped-query causal attention with a KV
 * cache, SwiGLU MLP. A call processes a batch of new tokens at once (a whole perplexity
 * window, a prompt, or one decoding step); the linear layers see all of them as one matmul.
 */
public final class LlamaModel {
    private final LlamaConfig config;
    private final LlamaWeights weights;
    /** RoPE inverse frequencies, one per rotated pair. */
    private final double[] invFreq;

    public LlamaModel(LlamaConfig config, LlamaWeights weights) {
        if (weights.layers().size() != config.nLayers()) {
            throw new IllegalArgumentException("config has " + config.nLayers() + " layers, weights "
                    + weights.layers().size());
        }
        this.config = config;
        this.weights = weights;
        this.invFreq = ropeInverseFrequencies(config);
    }

    /** Only the weight-free parts (RoPE, attention) for {@link BlockSteps}. */
    LlamaModel(LlamaConfig config) {
        this.config = config;
        this.weights = null;
        this.invFreq = ropeInverseFrequencies(config);
    }

    public static LlamaModel of(LlamaCheckpoint checkpoint) {
        return new LlamaModel(checkpoint.config(), checkpoint.weights());
    }

    public LlamaConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    public KvCache newCache(int capacity) {
        return new KvCache(config, capacity);
    }

    /**
     * Runs {@code tokens[offset, offset+length)} at positions {@code cache.length()...},
     * appends their keys and values to the cache, and returns logits: all positions
     * ({@code length x vocab}, row-major) when {@code allPositions}, else only the last ({@code vocab}).
     */
    public float[] forward(int[] tokens, int offset, int length, KvCache cache, boolean allPositions) {
        if (length <= 0) {
            throw new IllegalArgumentException("no tokens to run");
        }
        int start = cache.length;
        if (start + length > cache.capacity) {
            throw new IllegalArgumentException("KV cache holds " + cache.capacity + " positions; "
                    + start + " used, " + length + " more asked");
        }
        int dim = config.dim();
        int qDim = config.qDim();
        int kvDim = config.kvDim();
        int hidden = config.hiddenDim();
        float eps = (float) config.rmsNormEps();
        int vocab = config.vocabSize();

        float[] x = new float[length * dim];
        for (int t = 0; t < length; t++) {
            int id = tokens[offset + t];
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + vocab);
            }
            System.arraycopy(weights.tokenEmbedding(), id * dim, x, t * dim, dim);
        }
        float[] xb = new float[length * dim];
        float[] q = new float[length * qDim];
        float[] k = new float[length * kvDim];
        float[] v = new float[length * kvDim];
        float[] att = new float[length * qDim];
        float[] proj = new float[length * dim];
        float[] gate = new float[length * hidden];
        float[] up = new float[length * hidden];

        for (int l = 0; l < config.nLayers(); l++) {
            LayerWeights lw = weights.layers().get(l);
            rmsnormRows(x, lw.attnNorm(), eps, xb, length, dim);
            lw.wq().forward(xb, q, length);
            lw.wk().forward(xb, k, length);
            lw.wv().forward(xb, v, length);
            rope(q, length, config.nHeads(), start);
            rope(k, length, config.nKvHeads(), start);
            System.arraycopy(k, 0, cache.keys[l], start * kvDim, length * kvDim);
            System.arraycopy(v, 0, cache.values[l], start * kvDim, length * kvDim);
            attention(q, cache.keys[l], cache.values[l], att, length, start);
            lw.wo().forward(att, proj, length);
            addInPlace(x, proj, length * dim);

            rmsnormRows(x, lw.ffnNorm(), eps, xb, length, dim);
            lw.w1().forward(xb, gate, length);
            lw.w3().forward(xb, up, length);
            swiglu(gate, up, length * hidden);
            lw.w2().forward(gate, proj, length);
            addInPlace(x, proj, length * dim);
        }
        cache.length = start + length;

        int rows = allPositions ? length : 1;
        int from = allPositions ? 0 : length - 1;
        float[] normed = new float[rows * dim];
        for (int r = 0; r < rows; r++) {
            CpuKernels.rmsnorm(x, (from + r) * dim, weights.finalNorm(), eps, normed, r * dim, dim);
        }
        float[] logits = new float[rows * vocab];
        weights.lmHead().forward(normed, logits, rows);
        return logits;
    }

    static void rmsnormRows(float[] x, float[] g, float eps, float[] out, int rows, int dim) {
        for (int r = 0; r < rows; r++) {
            CpuKernels.rmsnorm(x, r * dim, g, eps, out, r * dim, dim);
        }
    }

    static void addInPlace(float[] x, float[] d, int n) {
        for (int i = 0; i < n; i++) {
            x[i] += d[i];
        }
    }

    /** gate <- silu(gate) * up. */
    static void swiglu(float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    /** Rotates pairs (i, i + headDim/2) of every head by angle pos * invFreq[i] (HF rotate_half). */
    void rope(float[] a, int length, int heads, int start) {
        int hd = config.headDim();
        int half = hd / 2;
        int width = heads * hd;
        float[] cos = new float[half];
        float[] sin = new float[half];
        for (int t = 0; t < length; t++) {
            int pos = start + t;
            for (int i = 0; i < half; i++) {
                double angle = pos * invFreq[i];
                cos[i] = (float) Math.cos(angle);
                sin[i] = (float) Math.sin(angle);
            }
            for (int h = 0; h < heads; h++) {
                int base = t * width + h * hd;
                for (int i = 0; i < half; i++) {
                    float x0 = a[base + i];
                    float x1 = a[base + i + half];
                    a[base + i] = x0 * cos[i] - x1 * sin[i];
                    a[base + i + half] = x1 * cos[i] + x0 * sin[i];
                }
            }
        }
    }

    /**
     * Causal attention of the new queries over every cached position up to their own, as two
     * matmuls per head through the packed kernel: scores S = Q·Kᵀ (T x P), a masked softmax per
     * row, then O = softmax(S)·V. Heads run in parallel; each one's matmuls run inline.
     */
    void attention(float[] q, float[] keys, float[] values, float[] out, int length, int start) {
        int heads = config.nHeads();
        int hd = config.headDim();
        int kvDim = config.kvDim();
        int qDim = config.qDim();
        int group = heads / config.nKvHeads();
        int positions = start + length;
        float scale = (float) (1.0 / Math.sqrt(hd));
        Parallel.forEach(0, heads, h -> {
            int kv = (h / group) * hd;
            float[] qh = new float[length * hd];
            for (int t = 0; t < length; t++) {
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
            float[] scores = new float[length * positions];
            PackedMatmul.pack(kh, positions, hd).multiply(qh, length, null, scores);
            for (int t = 0; t < length; t++) {
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
            float[] oh = new float[length * hd];
            PackedMatmul.pack(vt, hd, positions).multiply(scores, length, null, oh);
            for (int t = 0; t < length; t++) {
                System.arraycopy(oh, t * hd, out, t * qDim + h * hd, hd);
            }
        });
    }

    /** inv_freq_i = theta^(-2i/headDim), with Llama-3 scaling when configured. */
    static double[] ropeInverseFrequencies(LlamaConfig c) {
        int half = c.headDim() / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            inv[i] = 1.0 / Math.pow(c.ropeTheta(), 2.0 * i / c.headDim());
        }
        LlamaConfig.RopeScaling rs = c.ropeScaling();
        if (rs != null) {
            double oldLen = rs.originalMaxPositionEmbeddings();
            double lowWavelen = oldLen / rs.lowFreqFactor();
            double highWavelen = oldLen / rs.highFreqFactor();
            for (int i = 0; i < half; i++) {
                double wavelen = 2 * Math.PI / inv[i];
                if (wavelen > lowWavelen) {
                    inv[i] /= rs.factor();
                } else if (wavelen >= highWavelen) {
                    double smooth = (oldLen / wavelen - rs.lowFreqFactor()) / (rs.highFreqFactor() - rs.lowFreqFactor());
                    inv[i] = (1 - smooth) * inv[i] / rs.factor() + smooth * inv[i];
                }
            }
        }
        return inv;
    }
}
