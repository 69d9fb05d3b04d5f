package io.vq4j.model;

import io.vq4j.kernels.cpu.ForwardKernels;

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

    /** The RoPE inverse frequencies of a config, one per rotated pair (theta^(-2i/headDim), Llama-3 scaled). */
    public static double[] inverseFrequencies(LlamaConfig config) {
        return ropeInverseFrequencies(config);
    }

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
     * for the groups before, and then returns the weights to go on with; it may replace that
     * group's linears only ({@link #weightsAfter}). At the end each {@code x[s]} is replaced, in
     * place, by the block's output under the last weights, which are returned. A null hook runs
     * the block as it is.
     *
     * <p>What the passes keep between groups (the weights before a group do not change after
     * its pass, so nothing before it runs twice): o's pass keeps each sequence's attention output
     * (n × length × qDim floats, until gate/up's pass); gate/up's pass adds o's residual into
     * {@code x[s]}, which from then on holds the stream after attention. The MLP's hidden
     * activations are made twice, for down's input and for the output (keeping them would take
     * n × length × hidden floats). Per token that is 1.45 forwards' multiply-adds at Llama-2-7B's
     * shape, where running the block's prefix again for each group took 2.35. Memory besides:
     * one sequence's activations at a time.
     */
    public LayerWeights forward(LayerWeights lw, float[][] x, int length, ActivationHook hook) {
        Buffers b = new Buffers(length);
        if (hook == null) {
            for (float[] xs : x) {
                run(lw, xs, length, 0, b.k, b.v, b, null);
            }
            return lw;
        }
        int dim = config.dim();
        float eps = (float) config.rmsNormEps();
        for (int s = 0; s < x.length; s++) {
            rmsnormRows(x[s], lw.attnNorm(), eps, b.xb, length, dim);
            hook.input(LinearGroup.QKV, s, b.xb, length);
        }
        lw = weightsAfter(hook, LinearGroup.QKV, lw);
        float[][] att = new float[x.length][];
        for (int s = 0; s < x.length; s++) {
            float[] a = run(lw, x[s], length, 0, b.k, b.v, b, LinearGroup.O); // leaves x[s] as it is
            att[s] = a.clone();
            hook.input(LinearGroup.O, s, a, length);
        }
        lw = weightsAfter(hook, LinearGroup.O, lw);
        for (int s = 0; s < x.length; s++) {
            attentionResidual(lw, x[s], att[s], b, length);
            att[s] = null;
            rmsnormRows(x[s], lw.ffnNorm(), eps, b.xb, length, dim);
            hook.input(LinearGroup.GATE_UP, s, b.xb, length);
        }
        lw = weightsAfter(hook, LinearGroup.GATE_UP, lw);
        for (int s = 0; s < x.length; s++) {
            hook.input(LinearGroup.DOWN, s, mlpHidden(lw, x[s], b, length), length);
        }
        lw = weightsAfter(hook, LinearGroup.DOWN, lw);
        for (float[] xs : x) {
            mlpHidden(lw, xs, b, length);
            mlpResidual(lw, xs, b, length);
        }
        return lw;
    }

    /**
     * The hook's weights after {@code group}'s inputs were seen; it may replace that group's
     * linears and nothing else (what ran before is kept, not run again: see {@link #forward}).
     */
    static LayerWeights weightsAfter(ActivationHook hook, LinearGroup group, LayerWeights lw) {
        LayerWeights next = hook.weights(group, lw);
        if (next.attnNorm() != lw.attnNorm() || next.ffnNorm() != lw.ffnNorm()) {
            throw new IllegalStateException("the hook replaced a norm of the block after " + group
                    + "'s inputs: only " + group + "'s linears may change there");
        }
        for (LinearGroup g : LinearGroup.values()) {
            for (String name : g.linears()) {
                if (g != group && next.linear(name) != lw.linear(name)) {
                    throw new IllegalStateException("the hook replaced " + name + " after " + group
                            + "'s inputs: only " + group + "'s linears may change there");
                }
            }
        }
        return next;
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
        attentionResidual(lw, x, b.att, b, length);
        if (until == LinearGroup.GATE_UP) {
            rmsnormRows(x, lw.ffnNorm(), eps, b.xb, length, dim);
            return b.xb;
        }
        float[] h = mlpHidden(lw, x, b, length);
        if (until == LinearGroup.DOWN) {
            return h;
        }
        mlpResidual(lw, x, b, length);
        return x;
    }

    /** x += o_proj(att). */
    private void attentionResidual(LayerWeights lw, float[] x, float[] att, Buffers b, int length) {
        lw.wo().forward(att, b.proj, length);
        ForwardKernels.addInPlace(x, b.proj, length * config.dim());
    }

    /** The MLP's hidden activations silu(gate(n(x))) · up(n(x)) into b.gate (returned); n the second RMSNorm. */
    private float[] mlpHidden(LayerWeights lw, float[] x, Buffers b, int length) {
        rmsnormRows(x, lw.ffnNorm(), (float) config.rmsNormEps(), b.xb, length, config.dim());
        lw.w1().forward(b.xb, b.gate, length);
        lw.w3().forward(b.xb, b.up, length);
        ForwardKernels.swiglu(b.gate, b.up, length * config.hiddenDim());
        return b.gate;
    }

    /** x += down_proj(b.gate). */
    private void mlpResidual(LayerWeights lw, float[] x, Buffers b, int length) {
        lw.w2().forward(b.gate, b.proj, length);
        ForwardKernels.addInPlace(x, b.proj, length * config.dim());
    }

    static void rmsnormRows(float[] x, float[] g, float eps, float[] out, int rows, int dim) {
        ForwardKernels.rmsnormRows(x, 0, g, eps, out, 0, rows, dim);
    }

    /** Rotates pairs (i, i + headDim/2) of every head by angle pos * invFreq[i] (HF rotate_half). */
    void rope(float[] a, int length, int heads, int start) {
        ForwardKernels.rope(a, length, heads, config.headDim(), ForwardKernels.ropeTable(invFreq, start, length), 0,
                false);
    }

    /** Causal grouped-query attention of the new queries over every cached position up to their own. */
    void attention(float[] q, float[] keys, float[] values, float[] out, int length, int start) {
        ForwardKernels.attention(q, keys, values, out, length, start, config.nHeads(), config.nKvHeads(),
                config.headDim());
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
