package io.vq4j.model;

/**
 * One decoder block. Names follow llama2.c: w1 = gate_proj, w2 = down_proj, w3 = up_proj.
 * Projections use the Hugging Face RoPE convention (rotate_half: pairs (i, i + headDim/2)).
 * Calibration names the linear layers as Hugging Face does ({@link LinearGroup#linears()}).
 */
public record LayerWeights(
        float[] attnNorm,
        Linear wq,
        Linear wk,
        Linear wv,
        Linear wo,
        float[] ffnNorm,
        Linear w1,
        Linear w2,
        Linear w3) {

    /** A linear layer by its HF name (self_attn.q_proj, ..., mlp.down_proj). */
    public Linear linear(String name) {
        return switch (name) {
            case "self_attn.q_proj" -> wq;
            case "self_attn.k_proj" -> wk;
            case "self_attn.v_proj" -> wv;
            case "self_attn.o_proj" -> wo;
            case "mlp.gate_proj" -> w1;
            case "mlp.up_proj" -> w3;
            case "mlp.down_proj" -> w2;
            default -> throw new IllegalArgumentException(name);
        };
    }

    /** This block with one linear layer (by HF name) replaced. */
    public LayerWeights with(String name, Linear l) {
        linear(name); // an unknown name fails here
        return new LayerWeights(attnNorm,
                name.equals("self_attn.q_proj") ? l : wq, name.equals("self_attn.k_proj") ? l : wk,
                name.equals("self_attn.v_proj") ? l : wv, name.equals("self_attn.o_proj") ? l : wo,
                ffnNorm, name.equals("mlp.gate_proj") ? l : w1, name.equals("mlp.down_proj") ? l : w2,
                name.equals("mlp.up_proj") ? l : w3);
    }
}
