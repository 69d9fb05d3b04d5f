package io.vq4j.quant.calib;

import io.vq4j.core.Phases;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.model.ActivationHook;
import io.vq4j.model.DecoderBlock;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.LinearGroup;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.ResidentBlock;
import io.vq4j.quant.method.LayerProblem.SharedCodebook;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.quant.SharedCodebooks;
import io.vq4j.quant.SourceModel;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A Llama-family decoder for the {@link Calibration} driver: the calibration sequences' residual
 * stream (n × len × dim, starting as their embeddings) runs through the model's own
 * {@link DecoderBlock} with an {@link ActivationHook}; a block's steps are its
 * {@link LinearGroup}s, so q/k/v share one Hessian, o is calibrated on the output of the
 * quantized q/k/v, and so on. After a block the stream holds its output under the quantized
 * weights. Blocks come from the {@link SourceModel} one at a time (memory-mapped there).
 */
public final class DecoderTarget implements CalibrationTarget {
    private final SourceModel source;
    private final DecoderBlock block;
    private final float[][] x;
    private final int len;
    private final QuantSpec spec;
    private final Map<String, SharedCodebook> shared;
    private final List<Step> steps;
    /** The backend whose resident matrices the block forward runs on, or null: the host forward. */
    private final Backend backend;
    private final ForwardOps ops;
    private LayerWeights current;

    /**
     * @param x      the calibration sequences' embeddings (n arrays of len × dim), advanced in place
     * @param shared the shared codebooks by {@link SharedCodebooks#key} (empty when the spec shares none)
     */
    public DecoderTarget(SourceModel source, float[][] x, int len, QuantSpec spec, Map<String, SharedCodebook> shared) {
        this(source, x, len, spec, shared, null);
    }

    /**
     * As the other constructor, with the block forward on {@code backend}'s resident matrices where
     * {@link ResidentBlock#opsFor} chooses its ops (the CPU backend: the same bits as the host
     * forward; a GPU's forward ops), else (and with a null backend) the host forward.
     */
    public DecoderTarget(SourceModel source, float[][] x, int len, QuantSpec spec, Map<String, SharedCodebook> shared,
                         Backend backend) {
        LlamaConfig c = source.config();
        this.ops = ResidentBlock.opsFor(backend);
        this.backend = ops == null ? null : backend;
        this.source = source;
        this.block = new DecoderBlock(c);
        this.x = x;
        this.len = len;
        this.spec = spec;
        this.shared = shared;
        List<Step> s = new ArrayList<>();
        for (LinearGroup g : LinearGroup.values()) {
            s.add(new Step(List.of(new Group(g.linears(), g.inputWidth(c)))));
        }
        this.steps = List.copyOf(s);
    }

    @Override
    public int blocks() {
        return source.config().nLayers();
    }

    @Override
    public List<Step> steps() {
        return steps;
    }

    @Override
    public String name(int b, String linear) {
        return SourceModel.prefix(b) + linear;
    }

    @Override
    public Weight weight(String linear) {
        DenseLinear dl = (DenseLinear) current.linear(linear);
        return new Weight(dl.weight(), dl.outFeatures(), dl.inFeatures());
    }

    @Override
    public SharedCodebook sharedCodebook(String linear) {
        return spec.sharesCodebooks() ? shared.get(SharedCodebooks.key(spec, linear)) : null;
    }

    @Override
    public void calibrate(int b, StepSink sink) {
        long t = Phases.start();
        LayerWeights lw = source.block(b);
        Phases.stop("calib.load", t); // the block's weights read from the checkpoint: the layer's one copy in
        current = forward(lw, new ActivationHook() {
            @Override
            public void input(LinearGroup group, int sequence, float[] in, int rows) {
                sink.input(0, in, rows);
            }

            @Override
            public void input(LinearGroup group, int sequence, ResidentMatrix in, int rows, Backend owner) {
                sink.input(0, in, rows, owner);
            }

            @Override
            public LayerWeights weights(LinearGroup group, LayerWeights lw) {
                current = lw;
                for (Map.Entry<String, float[]> e : sink.quantize().entrySet()) {
                    DenseLinear dl = (DenseLinear) current.linear(e.getKey());
                    current = current.with(e.getKey(),
                            new DenseLinear(e.getValue(), dl.bias(), dl.outFeatures(), dl.inFeatures()));
                }
                return current;
            }
        });
    }

    /** Block {@code b}'s weights as last calibrated: after {@link #calibrate}, the quantized block. */
    public LayerWeights current() {
        return current;
    }

    /** Runs a block quantized before (read back on a resumed run) over the stream, without calibrating. */
    public void skip(LayerWeights quantized) {
        forward(quantized, null);
    }

    /** Whether the block forward runs on a backend's resident matrices (else on the host). */
    public boolean onBackend() {
        return ops != null;
    }

    private LayerWeights forward(LayerWeights lw, ActivationHook hook) {
        if (ops == null) {
            return block.forward(lw, x, len, hook);
        }
        try (ResidentBlock rb = new ResidentBlock(source.config(), backend, ops, len)) {
            return rb.forward(lw, x, hook);
        }
    }
}
