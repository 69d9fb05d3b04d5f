package io.vq4j.model;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.cpu.CpuKernels;
import io.vq4j.kernels.cpu.ForwardKernels;

/**
 * The Llama-family forward pass: on the CPU, or with every operation on a device
 * ({@link #onDevice}, {@link DeviceForward}). The token embedding, every {@link DecoderBlock}
 * over a KV cache, the final RMSNorm and the lm_head. A call processes a batch of new tokens
 * at once (a whole perplexity window, a prompt, or one decoding step); the linear layers see
 * all of them as one matmul.
 */
public final class LlamaModel {
    private final LlamaConfig config;
    private final LlamaWeights weights;
    private final DecoderBlock block;
    /** The backend whose forward ops run the whole forward (issue 17), or null: the host forward. */
    private final Backend device;

    public LlamaModel(LlamaConfig config, LlamaWeights weights) {
        this(config, weights, null);
    }

    private LlamaModel(LlamaConfig config, LlamaWeights weights, Backend device) {
        if (weights.layers().size() != config.nLayers()) {
            throw new IllegalArgumentException("config has " + config.nLayers() + " layers, weights "
                    + weights.layers().size());
        }
        this.config = config;
        this.weights = weights;
        this.block = new DecoderBlock(config);
        this.device = device;
    }

    /**
     * This model with its whole forward on {@code backend} ({@link DeviceForward}: caches made by
     * {@link #newCache} then live on the device) when the backend has forward ops of its own and is
     * not the CPU reference; otherwise this model, on the host.
     */
    public LlamaModel onDevice(Backend backend) {
        if (backend == null || backend instanceof CpuBackend || backend.forwardOps() == null) {
            return this;
        }
        return new LlamaModel(config, weights, backend);
    }

    /** Whether the forward runs on a device (every operation, see {@link DeviceForward#OPERATIONS}). */
    public boolean runsOnDevice() {
        return device != null;
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
        return device == null ? new KvCache(config, capacity)
                : new KvCache(config, new DeviceForward(config, weights, device, capacity));
    }

    /**
     * One window from position 0 (the cache is cleared): the NLL of the predictions of tokens
     * offset+1 .. offset+length−1, in order. On a device only these floats are copied back; on the
     * host they come from the logits, in double as {@link ForwardKernels#negLogSoftmax}.
     */
    public float[] windowNll(int[] tokens, int offset, int length, KvCache cache) {
        cache.clear();
        if (cache.device != null) {
            checkTokens(tokens, offset, length);
            checkRoom(cache, length);
            float[] out = cache.device.nll(tokens, offset, length);
            cache.length = length;
            return out;
        }
        float[] logits = forward(tokens, offset, length, cache, true);
        int vocab = config.vocabSize();
        float[] out = new float[length - 1];
        for (int t = 0; t + 1 < length; t++) {
            out[t] = (float) ForwardKernels.negLogSoftmax(logits, t * vocab, vocab, tokens[offset + t + 1]);
        }
        return out;
    }

    private void checkTokens(int[] tokens, int offset, int length) {
        if (length <= 0) {
            throw new IllegalArgumentException("no tokens to run");
        }
        for (int t = 0; t < length; t++) {
            int id = tokens[offset + t];
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + config.vocabSize());
            }
        }
    }

    private static void checkRoom(KvCache cache, int length) {
        if (cache.length + length > cache.capacity) {
            throw new IllegalArgumentException("KV cache holds " + cache.capacity + " positions; "
                    + cache.length + " used, " + length + " more asked");
        }
    }

    /**
     * Runs {@code tokens[offset, offset+length)} at positions {@code cache.length()...},
     * appends their keys and values to the cache, and returns logits: all positions
     * ({@code length x vocab}, row-major) when {@code allPositions}, else only the last ({@code vocab}).
     */
    public float[] forward(int[] tokens, int offset, int length, KvCache cache, boolean allPositions) {
        if (cache.device != null) {
            checkTokens(tokens, offset, length);
            checkRoom(cache, length);
            float[] out = cache.device.forward(tokens, offset, length, allPositions);
            cache.length += length;
            return out;
        }
        if (length <= 0) {
            throw new IllegalArgumentException("no tokens to run");
        }
        int start = cache.length;
        checkRoom(cache, length);
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
