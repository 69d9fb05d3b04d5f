package io.vq4j.model;

import io.vq4j.core.Phases;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.ForwardKernels;
import io.vq4j.kernels.cpu.HostForwardOps;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link DecoderBlock#forward(LayerWeights, float[][], int, ActivationHook) DecoderBlock's
 * calibration forward} on one backend's resident matrices (issue 16): each sequence's residual
 * stream goes to the backend once per pass and comes back once, at the end of the block; in
 * between, the linears are the backend's resident gemm (Y = X·Wᵀ, each weight uploaded once per
 * version of it as {@link Backend#residentWeights}, which the CPU backend packs once for its gemm,
 * and let go once its last pass is done) and RMSNorm, RoPE, attention, SiLU·mul and the residual adds its
 * {@link ForwardOps}; the hook sees each group's input as a resident matrix, which the Hessian
 * sums where it lies ({@link Backend#accumulateGram(ResidentMatrix, int, double[])}).
 *
 * <p>The same operations in the same order as {@link DecoderBlock#run}: on the CPU backend (its
 * ops are {@link HostForwardOps}, ForwardKernels' arithmetic; its resident gemm sums each element
 * as the packed matmul of {@link DenseLinear} does, fma over k from 0) every activation has the
 * host forward's bits, so the packed models are the same bytes. A device's forward ops are within
 * the bounds {@link ForwardOps} states; its gemm on OpenCL is the CPU's bits (sgemm.cl).
 *
 * <p>Which forward a calibration runs is {@link #opsFor}'s choice. Memory: one sequence's
 * activations on the backend, the uploads of the weights the current pass runs (no upload is held
 * while a group is quantized); on the host, the attention outputs kept between o's pass and
 * gate/up's, and the MLP's hidden activations kept from down's pass to the last one where
 * {@link #keepsHidden} says so (otherwise the last pass computes them again, to the same bits).
 */
public final class ResidentBlock implements AutoCloseable {
    /** The system property that picks the calibration forward: auto (default), backend or host. */
    public static final String PROPERTY = "vq.calib.forward";

    private final LlamaConfig config;
    private final Backend backend;
    private final ForwardOps ops;
    private final int length;
    private final List<ResidentMatrix> buffers = new ArrayList<>();
    /** The weights uploaded so far, by the identity of their array or Linear. */
    private final Map<Object, ResidentMatrix> uploaded = new IdentityHashMap<>();
    private final ResidentMatrix x, xb, q, k, v, att, proj, gate, up, rope;
    private final Hidden hidden;

    /** Whether the MLP's hidden activations of down's pass are kept for the block's last pass. */
    public enum Hidden {
        /** As {@link #keepsHidden} says. */
        AUTO,
        /** Always kept. */
        KEEP,
        /** Always computed again. */
        RECOMPUTE
    }

    /**
     * Whether a calibration of {@code sequences} × {@code length} tokens keeps the MLP's hidden
     * activations from down's pass for the last pass (AUTO): when they are no more floats than gate
     * and up's weights (sequences · length ≤ 2 · dim), so that keeping them costs no more memory
     * than the uploads the last pass would otherwise hold again; otherwise gate and up run again.
     */
    public static boolean keepsHidden(LlamaConfig config, long sequences, long length) {
        return sequences * length <= 2L * config.dim();
    }

    /**
     * The forward ops a calibration on {@code backend} runs its block forward with, or null for the
     * host forward ({@link DecoderBlock}): with {@code -Dvq.calib.forward=auto} (the default) the
     * backend's own ops where they are the reference's (the CPU backend) or its device is not the
     * host's CPU (a GPU); on a CPU-type OpenCL device such as PoCL the host forward, which runs on
     * the same cores and keeps the CPU's packed bytes. {@code backend} takes the backend's ops
     * wherever it has them, {@code host} never.
     */
    public static ForwardOps opsFor(Backend backend) {
        String mode = System.getProperty(PROPERTY, "auto");
        ForwardOps ops = backend == null ? null : backend.forwardOps();
        return switch (mode) {
            case "host" -> null;
            case "backend" -> ops;
            case "auto" -> ops != null && (ops instanceof HostForwardOps || !backend.hostCpu()) ? ops : null;
            default -> throw new IllegalArgumentException("-D" + PROPERTY + "=" + mode
                    + ": expected auto, backend or host");
        };
    }

    /** Buffers on {@code backend} for sequences of {@code length} tokens; ops are the backend's. */
    public ResidentBlock(LlamaConfig config, Backend backend, ForwardOps ops, int length) {
        this(config, backend, ops, length, Hidden.AUTO);
    }

    /** As the four-argument constructor, with the choice of keeping the MLP's hidden activations. */
    public ResidentBlock(LlamaConfig config, Backend backend, ForwardOps ops, int length, Hidden hidden) {
        if (length < 1) {
            throw new IllegalArgumentException("a calibration sequence needs at least one token, got " + length);
        }
        this.config = config;
        this.backend = backend;
        this.ops = ops;
        this.length = length;
        this.hidden = hidden;
        try {
            x = buffer(config.dim());
            xb = buffer(config.dim());
            q = buffer(config.qDim());
            k = buffer(config.kvDim());
            v = buffer(config.kvDim());
            att = buffer(config.qDim());
            proj = buffer(config.dim());
            gate = buffer(config.hiddenDim());
            up = buffer(config.hiddenDim());
            ResidentMatrix r = backend.resident(ForwardKernels.ropeTable(DecoderBlock.inverseFrequencies(config), 0,
                    length), length, config.headDim());
            buffers.add(r);
            rope = r;
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private ResidentMatrix buffer(int cols) {
        ResidentMatrix m = ops.zeros(length, cols);
        buffers.add(m);
        return m;
    }

    /**
     * As {@link DecoderBlock#forward(LayerWeights, float[][], int, ActivationHook)}, with what it
     * keeps between groups: for each group in forward order the hook sees every sequence's input
     * (resident, through {@link ActivationHook#input(LinearGroup, int, ResidentMatrix, int, Backend)})
     * and returns the weights to go on with (it may replace that group's linears only); then each
     * {@code xs[s]} (length × dim) is replaced by the block's output under the last weights,
     * which are returned. o's pass reads each sequence's attention output back to the host
     * (n × length × qDim floats, until gate/up's pass writes it again); from gate/up's pass on,
     * {@code xs[s]} holds the stream after attention. A null hook runs the block as it is.
     */
    public LayerWeights forward(LayerWeights lw, float[][] xs, ActivationHook hook) {
        int dim = config.dim();
        int qDim = config.qDim();
        float eps = (float) config.rmsNormEps();
        try {
            if (hook == null) {
                for (float[] s : xs) {
                    long t = Phases.start();
                    backend.write(x, 0, 0, length, dim, s, 0, dim);
                    run(lw, null);
                    backend.read(x, 0, 0, length, dim, s, 0, dim);
                    Phases.stop("calib.forward", t);
                }
                return lw;
            }
            for (int s = 0; s < xs.length; s++) {
                long t = Phases.start();
                backend.write(x, 0, 0, length, dim, xs[s], 0, dim);
                ResidentMatrix in = run(lw, LinearGroup.QKV);
                Phases.stop("calib.forward", t);
                hook.input(LinearGroup.QKV, s, in, length, backend);
            }
            lw = weights(hook, LinearGroup.QKV, lw);
            float[][] kept = new float[xs.length][];
            for (int s = 0; s < xs.length; s++) {
                long t = Phases.start();
                backend.write(x, 0, 0, length, dim, xs[s], 0, dim);
                ResidentMatrix in = run(lw, LinearGroup.O);
                kept[s] = new float[length * qDim];
                backend.read(att, 0, 0, length, qDim, kept[s], 0, qDim);
                Phases.stop("calib.forward", t);
                hook.input(LinearGroup.O, s, in, length, backend);
            }
            releaseGroup(lw, LinearGroup.QKV); // their last pass
            lw = weights(hook, LinearGroup.O, lw);
            for (int s = 0; s < xs.length; s++) {
                long t = Phases.start();
                backend.write(x, 0, 0, length, dim, xs[s], 0, dim);
                backend.write(att, 0, 0, length, qDim, kept[s], 0, qDim);
                kept[s] = null;
                attentionResidual(lw);
                backend.read(x, 0, 0, length, dim, xs[s], 0, dim);
                ops.rmsnorm(x, 0, length, vector(lw.ffnNorm()), eps, xb, 0);
                Phases.stop("calib.forward", t);
                hook.input(LinearGroup.GATE_UP, s, xb, length, backend);
            }
            releaseGroup(lw, LinearGroup.O);
            lw = weights(hook, LinearGroup.GATE_UP, lw);
            int hd = config.hiddenDim();
            boolean keep = hidden == Hidden.KEEP || hidden == Hidden.AUTO && keepsHidden(config, xs.length, length);
            float[][] mid = keep ? new float[xs.length][] : null;
            for (int s = 0; s < xs.length; s++) {
                long t = Phases.start();
                backend.write(x, 0, 0, length, dim, xs[s], 0, dim);
                ResidentMatrix in = mlpHidden(lw);
                if (keep) {
                    mid[s] = new float[length * hd];
                    backend.read(gate, 0, 0, length, hd, mid[s], 0, hd);
                }
                Phases.stop("calib.forward", t);
                hook.input(LinearGroup.DOWN, s, in, length, backend);
            }
            releaseGroup(lw, LinearGroup.GATE_UP); // kept or not, none is held while down is quantized
            lw = weights(hook, LinearGroup.DOWN, lw);
            for (int s = 0; s < xs.length; s++) {
                long t = Phases.start();
                backend.write(x, 0, 0, length, dim, xs[s], 0, dim);
                if (keep) {
                    backend.write(gate, 0, 0, length, hd, mid[s], 0, hd);
                    mid[s] = null;
                } else {
                    mlpHidden(lw); // the same operations on the same inputs: the kept values' bits
                }
                mlpResidual(lw);
                backend.read(x, 0, 0, length, dim, xs[s], 0, dim);
                Phases.stop("calib.forward", t);
            }
            return lw;
        } finally {
            releaseWeights();
        }
    }

    /** The hook's weights after {@code g}'s inputs ({@link DecoderBlock#weightsAfter}); g's old weights leave the backend. */
    private LayerWeights weights(ActivationHook hook, LinearGroup g, LayerWeights lw) {
        LayerWeights next = DecoderBlock.weightsAfter(hook, g, lw);
        for (String name : g.linears()) {
            if (next.linear(name) != lw.linear(name)) {
                release(lw.linear(name));
            }
        }
        return next;
    }

    /** Lets go of the uploads of g's linears in lw (uploaded again if a later pass runs them). */
    private void releaseGroup(LayerWeights lw, LinearGroup g) {
        for (String name : g.linears()) {
            release(lw.linear(name));
        }
    }

    /** DecoderBlock.run's operations on the resident x; stops at {@code until}'s input (a buffer) when set. */
    private ResidentMatrix run(LayerWeights lw, LinearGroup until) {
        float eps = (float) config.rmsNormEps();
        int hd = config.headDim();
        ops.rmsnorm(x, 0, length, vector(lw.attnNorm()), eps, xb, 0);
        if (until == LinearGroup.QKV) {
            return xb;
        }
        linear(lw.wq(), xb, q);
        linear(lw.wk(), xb, k);
        linear(lw.wv(), xb, v);
        ops.rope(q, length, config.nHeads(), hd, rope, 0, false);
        ops.rope(k, length, config.nKvHeads(), hd, rope, 0, false);
        ops.attention(q, k, v, att, length, 0, config.nHeads(), config.nKvHeads(), hd);
        if (until == LinearGroup.O) {
            return att;
        }
        attentionResidual(lw);
        if (until == LinearGroup.GATE_UP) {
            ops.rmsnorm(x, 0, length, vector(lw.ffnNorm()), eps, xb, 0);
            return xb;
        }
        ResidentMatrix h = mlpHidden(lw);
        if (until == LinearGroup.DOWN) {
            return h;
        }
        mlpResidual(lw);
        return x;
    }

    /** x += o_proj(att). */
    private void attentionResidual(LayerWeights lw) {
        linear(lw.wo(), att, proj);
        ops.add(x, proj, length);
    }

    /** silu(gate(n(x))) · up(n(x)) into the gate buffer (returned); n the second RMSNorm. */
    private ResidentMatrix mlpHidden(LayerWeights lw) {
        ops.rmsnorm(x, 0, length, vector(lw.ffnNorm()), (float) config.rmsNormEps(), xb, 0);
        linear(lw.w1(), xb, gate);
        linear(lw.w3(), xb, up);
        ops.siluMul(gate, up, length);
        return gate;
    }

    /** x += down_proj(gate). */
    private void mlpResidual(LayerWeights lw) {
        linear(lw.w2(), gate, proj);
        ops.add(x, proj, length);
    }

    /** out = in · Wᵀ (+ bias) on the first length rows: the backend's resident gemm. */
    private void linear(Linear l, ResidentMatrix in, ResidentMatrix out) {
        if (!(l instanceof DenseLinear d)) {
            throw new IllegalArgumentException("the calibration forward runs dense weights, not a "
                    + l.getClass().getSimpleName());
        }
        ResidentMatrix w = uploaded.get(l);
        if (w == null) {
            w = backend.residentWeights(d.weightShared(), d.outFeatures(), d.inFeatures());
            uploaded.put(l, w);
        }
        backend.gemm(false, true, length, d.outFeatures(), d.inFeatures(), 1f, in, 0, 0, w, 0, 0, 0f, out, 0, 0);
        if (d.bias() != null) {
            ops.addBias(out, length, vector(d.bias()));
        }
    }

    private ResidentMatrix vector(float[] values) {
        ResidentMatrix m = uploaded.get(values);
        if (m == null) {
            m = backend.resident(values, 1, values.length);
            uploaded.put(values, m);
        }
        return m;
    }

    private void release(Object key) {
        ResidentMatrix m = uploaded.remove(key);
        if (m != null) {
            m.close();
        }
    }

    private void releaseWeights() {
        for (ResidentMatrix m : uploaded.values()) {
            m.close();
        }
        uploaded.clear();
    }

    @Override
    public void close() {
        releaseWeights();
        for (int i = buffers.size() - 1; i >= 0; i--) {
            buffers.get(i).close();
        }
        buffers.clear();
    }
}
