package io.vq4j.model;

import io.vq4j.kernels.cpu.CpuKernels;

/**
 * The Llama-family forward pass on the CPU: the token embedding, every {@link DecoderBlock}
 * over a KV cache, the final RMSNorm and the lm_head. A call processes a batch of new tokens
 * at once (a whole perplexity window, a prompt, or one decoding step); the linear layers see
 * all of them as one matmul.
 */
public final class LlamaModel {
    private final LlamaConfig config;
    private final LlamaWeights weights;
    private final DecoderBlock block;

    public LlamaModel(LlamaConfig config, LlamaWeights weights) {
        if (weights.layers().size() != config.nLayers()) {
            throw new IllegalArgumentException("config has " + config.nLayers() + " layers, weights "
                    + weights.layers().size());
        }
        this.config = config;
        this.weights = weights;
        this.block = new DecoderBlock(config);
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
        DecoderBlock.Buffers buffers = block.buffers(length);
        for (int l = 0; l < config.nLayers(); l++) {
            block.run(weights.layers().get(l), x, length, start, cache.keys[l], cache.values[l], buffers, null);
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
}
