package io.vq4j.model;

/**
 * One decoder block. Names follow llama2.c: w1 = gate_proj, w2 = down_proj, w3 = up_proj.
 * Projections use the Hugging Face RoPE convention (rotate_half: pairs (i, i + headDim/2)).
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
}
