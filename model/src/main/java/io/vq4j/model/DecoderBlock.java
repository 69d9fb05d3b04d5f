package io.vq4j.model;

import io.vq4j.core.Parallel;
import io.vq4j.kernels.cpu.CpuKernels;
import io.vq4j.kernels.cpu.PackedMatmul;

import java.util.Arrays;

/**
 * The Llama-family decoder block on the CPU, written once: RMSNorm, RoPE (Hugging Face
 * rotate_half convention, optional Llama-3 frequency scaling), grouped-query causal attention,
 * SwiGLU MLP, both residuals. {@link LlamaModel#forward} runs it over a KV cache; calibration
 * runs it over its sequences with an {@link ActivationHook} that sees each {@link LinearGroup}'s
 * input and may swap the block's linear layers between the groups. Both go through the same
 * code, so a layer calibrated here sees the very activations the model computes.
 */
public final class DecoderBlock {
    private final LlamaConfig config;
    /** RoPE inverse frequencies, one per rotated pair. */
    private final double[] invFreq;

    public DecoderBlock(LlamaConfig config) {
        this.config = config;
        this.invFreq = ropeInverseFrequencies(config);
    }

    public LlamaConfig config() {
        return config;
    }

    /** The activations of one sequence of {@code length} tokens inside the block, reused from layer to layer. */
    final class Buffers {
        final float[] xb;
        final float[] q;
        final float[] k;
        final float[] v;
        final float[] att;
        final float[] proj;
        final float[] gate;
        final float[] up;

        Buffers(int length) {
            xb = new float[length * config.dim()];
            q = new float[length * config.qDim()];
            k = new float[length * config.kvDim()];
            v = new float[length * config.kvDim()];
            att = new float[length * config.qDim()];
            proj = new float[length * config.dim()];
            gate = new float[length * config.hiddenDim()];
            up = new float[length * config.hiddenDim()];
        }
    }

    Buffers buffers(int length) {
        return new Buffers(length);
    }

    /**
     * Runs block {@code lw} over sequences that start at position 0 (each {@code x[s]} holds
     * length × dim floats), group by group: for each {@link LinearGroup} in forward order the
     * hook sees every sequence's input of that group, computed with the weights it returned
     * for the groups before, and then returns the weights to go on with. At the end each
     * {@code x[s]} is replaced, in place, by the block's output under the last weights, which
     * are returned. A null hook runs the block as it is. Memory: one sequence's activations at
     * a time; the part of the block before a group runs again for that group's inputs.
     */
    public LayerWeights forward(LayerWeights lw, float[][] x, int length, ActivationHook hook) {
        Buffers b = new Buffers(length);
        if (hook != null) {
            float[] scratch = new float[length * config.dim()];
            for (LinearGroup g : LinearGroup.values()) {
                for (int s = 0; s < x.length; s++) {
                    System.arraycopy(x[s], 0, scratch, 0, scratch.length);
                    hook.input(g, s, run(lw, scratch, length, 0, b.k, b.v, b, g), length);
                }
                lw = hook.weights(g, lw);
            }
        }
        for (float[] xs : x) {
            run(lw, xs, length, 0, b.k, b.v, b, null);
        }
        return lw;
    }

    /**
     * One sequence of {@code length} tokens at positions {@code start...} through the block:
     * {@code x} (length × dim) becomes the block's output in place, and the sequence's keys and
     * values go into {@code keys}/{@code values} (this layer's cache, positions from 0) unless
     * those are the buffers' own. With {@code until} set it stops at that group's input and
     * returns it (a buffer of {@code b}); {@code x} then holds the residual stream so far.
     */
    float[] run(LayerWeights lw, float[] x, int length, int start, float[] keys, float[] values, Buffers b,
                LinearGroup until) {
        int dim = config.dim();
        int kvDim = config.kvDim();
        float eps = (float) config.rmsNormEps();
        rmsnormRows(x, lw.attnNorm(), eps, b.xb, length, dim);
        if (until == LinearGroup.QKV) {
            return b.xb;
        }
        lw.wq().forward(b.xb, b.q, length);
        lw.wk().forward(b.xb, b.k, length);
        lw.wv().forward(b.xb, b.v, length);
        rope(b.q, length, config.nHeads(), start);
        rope(b.k, length, config.nKvHeads(), start);
        if (keys != b.k) {
            System.arraycopy(b.k, 0, keys, start * kvDim, length * kvDim);
            System.arraycopy(b.v, 0, values, start * kvDim, length * kvDim);
        }
        attention(b.q, keys, values, b.att, length, start);
        if (until == LinearGroup.O) {
            return b.att;
        }
        lw.wo().forward(b.att, b.proj, length);
        addInPlace(x, b.proj, length * dim);

        rmsnormRows(x, lw.ffnNorm(), eps, b.xb, length, dim);
        if (until == LinearGroup.GATE_UP) {
            return b.xb;
        }
        lw.w1().forward(b.xb, b.gate, length);
        lw.w3().forward(b.xb, b.up, length);
        swiglu(b.gate, b.up, length * config.hiddenDim());
        if (until == LinearGroup.DOWN) {
            return b.gate;
        }
        lw.w2().forward(b.gate, b.proj, length);
        addInPlace(x, b.proj, length * dim);
        return x;
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
                    double smooth = (oldLen / wavelen - rs.lowFreqFactor())
                            / (rs.highFreqFactor() - rs.lowFreqFactor());
                    inv[i] = (1 - smooth) * inv[i] / rs.factor() + smooth * inv[i];
                }
            }
        }
        return inv;
    }
}
