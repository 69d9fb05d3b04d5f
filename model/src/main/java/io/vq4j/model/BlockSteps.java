package io.vq4j.model;

/**
 * One decoder block cut at the inputs of its linear layers, for calibration: each step is
 * exactly what {@link LlamaModel#forward} computes for a sequence that starts at position 0,
 * so a block calibrated here sees what the model will see.
 */
public final class BlockSteps {
    private final LlamaConfig config;
    private final LlamaModel ops;

    public BlockSteps(LlamaConfig config) {
        this.config = config;
        this.ops = new LlamaModel(config);
    }

    /** RMSNorm(x) with the attention norm: the input of q, k and v (T × dim). */
    public float[] attentionInput(LayerWeights lw, float[] x, int t) {
        float[] xb = new float[t * config.dim()];
        LlamaModel.rmsnormRows(x, lw.attnNorm(), (float) config.rmsNormEps(), xb, t, config.dim());
        return xb;
    }

    /** Causal attention of the sequence over itself: the input of o (T × qDim). */
    public float[] attentionOutput(LayerWeights lw, float[] xb, int t) {
        float[] q = new float[t * config.qDim()];
        float[] k = new float[t * config.kvDim()];
        float[] v = new float[t * config.kvDim()];
        lw.wq().forward(xb, q, t);
        lw.wk().forward(xb, k, t);
        lw.wv().forward(xb, v, t);
        ops.rope(q, t, config.nHeads(), 0);
        ops.rope(k, t, config.nKvHeads(), 0);
        float[] att = new float[t * config.qDim()];
        ops.attention(q, k, v, att, t, 0);
        return att;
    }

    /** x + o(att): the residual stream after attention (T × dim). */
    public float[] afterAttention(LayerWeights lw, float[] x, float[] att, int t) {
        float[] proj = new float[t * config.dim()];
        lw.wo().forward(att, proj, t);
        float[] x1 = x.clone();
        LlamaModel.addInPlace(x1, proj, t * config.dim());
        return x1;
    }

    /** RMSNorm(x1) with the MLP norm: the input of gate and up (T × dim). */
    public float[] mlpInput(LayerWeights lw, float[] x1, int t) {
        float[] xb = new float[t * config.dim()];
        LlamaModel.rmsnormRows(x1, lw.ffnNorm(), (float) config.rmsNormEps(), xb, t, config.dim());
        return xb;
    }

    /** silu(gate(xb)) · up(xb): the input of down (T × hidden). */
    public float[] mlpHidden(LayerWeights lw, float[] xb, int t) {
        float[] gate = new float[t * config.hiddenDim()];
        float[] up = new float[t * config.hiddenDim()];
        lw.w1().forward(xb, gate, t);
        lw.w3().forward(xb, up, t);
        LlamaModel.swiglu(gate, up, t * config.hiddenDim());
        return gate;
    }

    /** x1 + down(h): the block's output (T × dim). */
    public float[] afterMlp(LayerWeights lw, float[] x1, float[] h, int t) {
        float[] proj = new float[t * config.dim()];
        lw.w2().forward(h, proj, t);
        float[] out = x1.clone();
        LlamaModel.addInPlace(out, proj, t * config.dim());
        return out;
    }

    /** The whole block. */
    public float[] forward(LayerWeights lw, float[] x, int t) {
        float[] x1 = afterAttention(lw, x, attentionOutput(lw, attentionInput(lw, x, t), t), t);
        return afterMlp(lw, x1, mlpHidden(lw, mlpInput(lw, x1, t), t), t);
    }
}
