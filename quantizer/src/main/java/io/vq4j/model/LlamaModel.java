package io.vq4j.model;

/**
 * The Llama-family forward pass on the CPU: RMSNorm, RoPE (HF rotate_half convention,
 * optional Llama-3 scaling), grouped-query causal attention, SwiGLU MLP.
 */
public final class LlamaModel {
    private final LlamaConfig config;
    private final LlamaWeights weights;

    public LlamaModel(LlamaConfig config, LlamaWeights weights) {
        this.config = config;
        this.weights = weights;
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
        throw new UnsupportedOperationException("forward pass not written yet");
    }
}
