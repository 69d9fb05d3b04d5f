package io.vq4j.model;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.ForwardKernels;
import io.vq4j.kernels.packed.PackedMatrix;

import java.util.ArrayList;
import java.util.List;

/**
 * The whole Llama forward on one backend's {@link ForwardOps} (issue 17): the token embedding,
 * every decoder block (RMSNorm, the q/k/v/o and MLP linears straight from their packed or dense
 * device weights, RoPE, causal attention over a KV cache held on the device, SiLU·mul, the
 * residuals), the final RMSNorm, the head and the per-token NLL. The host sends the token ids and
 * gets back one float per scored token ({@link #nll}) or the logits it asks for ({@link #forward}:
 * the last position's, for generation). The same sequence of operations as {@link DecoderBlock}.
 *
 * <p>Device memory is allocated once, for {@code capacity} positions: the weights (packed layers
 * already on this backend are used as they are; dense ones are uploaded as fp32), the KV cache,
 * the activations of one window and the head's logits for {@link #HEAD_ROWS} rows at a time; it is
 * all released by {@link #close()}. The backend's peak device bytes count it.
 */
public final class DeviceForward implements AutoCloseable {
    /** Rows of logits the head computes at a time: the logits never take more than HEAD_ROWS × vocab floats. */
    static final int HEAD_ROWS = 64;
    /** The operations of the forward, in order, as the eval JSON names them. */
    public static final List<String> OPERATIONS = List.of("embedding", "rmsnorm", "linears", "rope", "kv_cache",
            "attention", "silu_mul", "residual_add", "final_norm", "lm_head", "nll");

    private final LlamaConfig config;
    private final Backend backend;
    private final ForwardOps ops;
    private final int capacity;
    private final List<AutoCloseable> owned = new ArrayList<>();
    private final ResidentMatrix embedding;
    private final ResidentMatrix finalNorm;
    private final ResidentMatrix ropeTable;
    private final Layer[] layers;
    private final Lin head;
    private final ResidentMatrix[] keys;
    private final ResidentMatrix[] values;
    private final ResidentMatrix x, xb, q, k, v, att, proj, gate, up, normed, logits;
    private int length;

    /** A linear layer on the device: its weights and its bias (or null). */
    private record Lin(PackedWeights w, ResidentMatrix bias) {
    }

    private record Layer(ResidentMatrix attnNorm, Lin wq, Lin wk, Lin wv, Lin wo, ResidentMatrix ffnNorm, Lin w1,
                         Lin w2, Lin w3) {
    }

    /** The model's weights on {@code backend}, with a KV cache and buffers for {@code capacity} positions. */
    public DeviceForward(LlamaConfig config, LlamaWeights weights, Backend backend, int capacity) {
        ForwardOps o = backend.forwardOps();
        if (o == null) {
            throw new IllegalArgumentException(backend.name() + " has no forward ops of its own");
        }
        if (capacity < 1) {
            throw new IllegalArgumentException("a device forward needs room for at least one position, got " + capacity);
        }
        this.config = config;
        this.backend = backend;
        this.ops = o;
        this.capacity = capacity;
        int dim = config.dim();
        try {
            embedding = keep(backend.resident(weights.tokenEmbedding(), config.vocabSize(), dim));
            finalNorm = vector(weights.finalNorm());
            ropeTable = keep(backend.resident(ForwardKernels.ropeTable(DecoderBlock.inverseFrequencies(config), 0,
                    capacity), capacity, config.headDim()));
            layers = new Layer[config.nLayers()];
            keys = new ResidentMatrix[config.nLayers()];
            values = new ResidentMatrix[config.nLayers()];
            for (int l = 0; l < layers.length; l++) {
                LayerWeights lw = weights.layers().get(l);
                layers[l] = new Layer(vector(lw.attnNorm()), lin(lw.wq()), lin(lw.wk()), lin(lw.wv()), lin(lw.wo()),
                        vector(lw.ffnNorm()), lin(lw.w1()), lin(lw.w2()), lin(lw.w3()));
                keys[l] = zeros(capacity, config.kvDim());
                values[l] = zeros(capacity, config.kvDim());
            }
            head = lin(weights.lmHead());
            x = zeros(capacity, dim);
            xb = zeros(capacity, dim);
            q = zeros(capacity, config.qDim());
            k = zeros(capacity, config.kvDim());
            v = zeros(capacity, config.kvDim());
            att = zeros(capacity, config.qDim());
            proj = zeros(capacity, dim);
            gate = zeros(capacity, config.hiddenDim());
            up = zeros(capacity, config.hiddenDim());
            int headRows = Math.min(HEAD_ROWS, capacity);
            normed = zeros(headRows, dim);
            logits = zeros(headRows, config.vocabSize());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private <T extends AutoCloseable> T keep(T t) {
        owned.add(t);
        return t;
    }

    private ResidentMatrix zeros(int rows, int cols) {
        return keep(ops.zeros(rows, cols));
    }

    private ResidentMatrix vector(float[] values) {
        return keep(backend.resident(values.clone(), 1, values.length));
    }

    /** A linear layer's device weights: a packed upload of this backend as it is, anything else uploaded dense fp32. */
    private Lin lin(Linear l) {
        PackedWeights w;
        float[] bias;
        if (l instanceof PackedLinear p && p.backend() == backend) {
            w = p.weights();
            bias = p.bias();
        } else if (l instanceof PackedLinear p) {
            float[] dense = new float[l.outFeatures() * l.inFeatures()];
            p.backend().dequant(p.weights(), dense);
            w = keep(backend.upload(PackedMatrix.dense(dense, l.outFeatures(), l.inFeatures(), false)));
            bias = p.bias();
        } else if (l instanceof DenseLinear d) {
            w = keep(backend.upload(PackedMatrix.dense(d.weight(), l.outFeatures(), l.inFeatures(), false)));
            bias = d.bias();
        } else {
            throw new IllegalArgumentException("cannot run a " + l.getClass().getSimpleName() + " on " + backend.name());
        }
        return new Lin(w, bias == null ? null : vector(bias));
    }

    public Backend backend() {
        return backend;
    }

    public int capacity() {
        return capacity;
    }

    /** Positions held in the device's KV cache. */
    public int length() {
        return length;
    }

    /** Forgets every cached position (the memory stays). */
    public void clear() {
        length = 0;
    }

    /**
     * Runs {@code tokens[offset, offset+n)} at the next positions, appends their keys and values to
     * the device cache, and copies back logits: every position's (n × vocab) when allPositions,
     * else the last one's (vocab).
     */
    public float[] forward(int[] tokens, int offset, int n, boolean allPositions) {
        blocks(tokens, offset, n);
        int vocab = config.vocabSize();
        int from = allPositions ? 0 : n - 1;
        float[] out = new float[(n - from) * vocab];
        for (int r = from; r < n; r += logits.rows()) {
            int rows = Math.min(logits.rows(), n - r);
            head(r, rows);
            System.arraycopy(ops.read(logits, rows), 0, out, (r - from) * vocab, rows * vocab);
        }
        return out;
    }

    /**
     * A window from position 0: the cache is cleared, {@code ids[offset, offset+n)} run, and the NLL
     * of each prediction of tokens offset+1 .. offset+n−1 (n − 1 floats) is all that is copied back.
     */
    public float[] nll(int[] ids, int offset, int n) {
        clear();
        blocks(ids, offset, n);
        float[] out = new float[n - 1];
        for (int r = 0; r < n - 1; r += logits.rows()) {
            int rows = Math.min(logits.rows(), n - 1 - r);
            head(r, rows);
            System.arraycopy(ops.nll(logits, rows, ids, offset + r + 1), 0, out, r, rows);
        }
        return out;
    }

    /** The final norm and the head of rows [from, from + rows) of x, into the first rows of logits. */
    private void head(int from, int rows) {
        ops.rmsnorm(x, from, rows, finalNorm, (float) config.rmsNormEps(), normed, 0);
        linear(head, normed, rows, logits);
    }

    private void linear(Lin l, ResidentMatrix in, int rows, ResidentMatrix out) {
        ops.matmul(l.w(), in, rows, out);
        if (l.bias() != null) {
            ops.addBias(out, rows, l.bias());
        }
    }

    /** Embedding and every decoder block over n new tokens: x holds the last block's output. */
    private void blocks(int[] tokens, int offset, int n) {
        if (n <= 0) {
            throw new IllegalArgumentException("no tokens to run");
        }
        int start = length;
        if (start + n > capacity) {
            throw new IllegalArgumentException("KV cache holds " + capacity + " positions; " + start + " used, " + n
                    + " more asked");
        }
        float eps = (float) config.rmsNormEps();
        int hd = config.headDim();
        ops.embed(embedding, tokens, offset, n, x);
        for (int l = 0; l < layers.length; l++) {
            Layer lw = layers[l];
            ops.rmsnorm(x, 0, n, lw.attnNorm(), eps, xb, 0);
            linear(lw.wq(), xb, n, q);
            linear(lw.wk(), xb, n, k);
            linear(lw.wv(), xb, n, v);
            ops.rope(q, n, config.nHeads(), hd, ropeTable, start, false);
            ops.rope(k, n, config.nKvHeads(), hd, ropeTable, start, false);
            ops.copyRows(k, 0, keys[l], start, n);
            ops.copyRows(v, 0, values[l], start, n);
            ops.attention(q, keys[l], values[l], att, n, start, config.nHeads(), config.nKvHeads(), hd);
            linear(lw.wo(), att, n, proj);
            ops.add(x, proj, n);
            ops.rmsnorm(x, 0, n, lw.ffnNorm(), eps, xb, 0);
            linear(lw.w1(), xb, n, gate);
            linear(lw.w3(), xb, n, up);
            ops.siluMul(gate, up, n);
            linear(lw.w2(), gate, n, proj);
            ops.add(x, proj, n);
        }
        length = start + n;
    }

    /** Releases what this forward allocated on the device (packed layers it did not upload stay). */
    @Override
    public void close() {
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
        owned.clear();
    }
}
