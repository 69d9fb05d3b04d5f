package io.vq4j.quant.job;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import io.vq4j.kernels.Backend;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.LlamaConfig;
import io.vq4j.pack.PackedLayers;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.quant.method.LayerProblem.SharedCodebook;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.quant.SharedCodebooks;
import io.vq4j.quant.SourceModel;
import io.vq4j.quant.calib.CalibratedLayer;
import io.vq4j.quant.calib.Calibration;
import io.vq4j.quant.calib.CalibrationTokens;
import io.vq4j.quant.calib.DecoderTarget;
import io.vq4j.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * `vq quantize`: calibrate, quantize block by block (true-sequential), write the packed
 * directory. Each decoder block is calibrated on the outputs of the already-quantized blocks
 * before it, and within a block on its already-quantized sub-layers: q/k/v (one shared H), then
 * o, then gate/up (one shared H), then down ({@link Calibration} over a {@link DecoderTarget}).
 * Each finished block is written as its own shard with a checkpoint record; a run started again
 * with the same arguments resumes after the last finished block and ends with the same bytes
 * ({@link JobOutput}); the report lists every layer ({@link JobReport}). config.json, written
 * last, marks the directory complete. Memory: the calibration activations (n × L × dim), one
 * block's weights and its Hessians; the source stays memory-mapped. A run that cannot fit the
 * heap by {@link MemoryEstimate}'s count is refused before it starts.
 */
public final class QuantizeJob {
    public static final String STATE = ".vq4j-quantize-state.json";
    public static final String REPORT_JSON = "quantize-report.json";
    public static final String REPORT_MD = "quantize-report.md";

    private QuantizeJob() {
    }

    /**
     * @param calibSamples n sequences
     * @param calibLen     L tokens each (0 = min(512, the model's max sequence length))
     */
    public record Options(Path model, Path calib, Tokenizer tokenizer, QuantSpec spec, int calibSamples, int calibLen,
                          long seed, Path out) {
    }

    /** One quantized layer, as logged and reported. */
    public record LayerReport(String name, int rows, int cols, String method, double nominalBitsPerWeight,
                              double trueBitsPerWeight, long bytes, double hessianError, double relativeError,
                              double seconds) {
    }

    public record Result(Path out, List<LayerReport> layers, int blocksResumed, double seconds) {
    }

    /** Progress and per-layer log lines. */
    public interface Listener {
        default void progress(int block, int blocks, int layer, int layers, String name) {
        }

        default void layer(LayerReport r) {
        }

        default void info(String line) {
        }

        /** Block b is quantized and written; {@code quantized} holds its dequantized weights. */
        default void blockDone(int b, LayerWeights quantized) {
        }
    }

    public static Result run(SourceModel source, Options o, Backend backend, Listener listener) {
        return run(source, o, backend, listener, null);
    }

    /**
     * {@link #run}, each layer quantized with its own spec when {@code plan} is given
     * (--target-bpw: o.spec() then gives the damping; the plan's record joins the fingerprint,
     * the checkpoint record and the report).
     */
    public static Result run(SourceModel source, Options o, Backend backend, Listener listener, LayerPlan plan) {
        long t0 = System.nanoTime();
        LlamaConfig c = source.config();
        QuantSpec spec = o.spec();
        LayerQuantizer quantizer = plan == null ? validate(spec, c) : plan.quantizer();
        int n = o.calibSamples();
        int len = o.calibLen() > 0 ? o.calibLen() : Math.min(512, c.maxSeqLen());
        if (n < 1) {
            throw new InputException("--calib-samples: must be at least 1, got " + n);
        }
        if (len < 2 || len > c.maxSeqLen()) {
            throw new InputException("--calib-len: must be 2.." + c.maxSeqLen()
                    + " (the model's max sequence length), got " + len);
        }
        MemoryEstimate.check(c, n, len, calibBytes(o.calib()), plan == null ? List.of(spec) : Set.copyOf(plan.specs().values()),
                Runtime.getRuntime());
        int[] tokens = CalibrationTokens.read(o.calib(), o.tokenizer(), n, len);
        source.checkFinite();
        String fingerprint = JobOutput.fingerprint(source, o, n, len, tokens, plan);
        int blocks = c.nLayers();
        JobOutput output = new JobOutput(o.out().toAbsolutePath().normalize(), fingerprint, blocks,
                plan == null ? null : plan.record());
        Path out = output.dir();
        try (RunLock lock = RunLock.acquire(out)) {
            return runLocked(source, o, backend, listener, t0, quantizer, n, len, tokens, fingerprint, output);
        }
    }

    /** The run, under the output directory's {@link RunLock}. */
    private static Result runLocked(SourceModel source, Options o, Backend backend, Listener listener, long t0,
                                    LayerQuantizer quantizer, int n, int len, int[] tokens, String fingerprint,
                                    JobOutput output) {
        QuantSpec spec = o.spec();
        int blocks = source.config().nLayers();
        Path out = output.dir();
        List<LayerReport> reports = new ArrayList<>();
        int done = output.prepare(reports, listener);
        if (done > blocks) {
            listener.info(out + " is already complete");
            return new Result(out, reports, blocks, 0);
        }

        float[][] x = new float[n][];
        for (int s = 0; s < n; s++) {
            x[s] = source.embed(tokens, s * len, len);
        }
        Map<String, SharedCodebook> shared = Map.of();
        if (spec.sharesCodebooks()) { // fitted again on a resumed run: deterministic, same bytes
            listener.info("fitting the shared codebooks (--share-codebooks " + spec.shareCodebooks() + ")");
            shared = SharedCodebooks.fit(source, spec, x, len, backend, o.seed());
        }
        DecoderTarget target = new DecoderTarget(source, x, len, spec, shared, backend);
        if (done > 0) {
            listener.info("resuming after block " + done + " of " + blocks + " ("
                    + out.resolve(STATE).getFileName() + ")");
            for (int b = 0; b < done; b++) {
                target.skip(output.readBlock(b, source.block(b)));
            }
        }
        List<SharedCodebook> books = List.copyOf(shared.values());
        new Calibration(quantizer, spec, backend, o.seed()).run(target, done, new Calibration.Listener() {
            private final Map<String, PackedLayers.Packed> packed = new LinkedHashMap<>();

            @Override
            public void progress(int block, int blocks, int layer, int layers, String linear) {
                listener.progress(block, blocks, layer, layers, linear);
            }

            @Override
            public void layer(int block, CalibratedLayer l) {
                PackedLayers.Packed p = PackedLayers.pack(l.name(), l.packed()); // once: counted, then written
                LayerReport r = JobReport.of(l, p);
                reports.add(r);
                listener.layer(r);
                packed.put(l.name(), p);
            }

            @Override
            public void blockDone(int b) {
                // every shared codebook once, in the first block's shard
                output.writeBlock(b, packed, b == 0 ? books : List.of(), source, reports);
                packed.clear();
                listener.blockDone(b, target.current());
            }
        });
        long sharedBytes = 0;
        for (SharedCodebook sc : books) {
            sharedBytes += PackedLayers.sharedCodebook(sc.tensor(), sc.k(), sc.d(), sc.book()).bytes().length;
        }
        ObjectNode json = JobReport.json(o, fingerprint, reports, n, len, sharedBytes);
        String md = JobReport.markdown(o, reports, sharedBytes);
        if (output.plan() != null) { // --target-bpw: the choice per layer
            json.put("method", "mixed");
            json.set(PLAN, output.plan());
            md = JobReport.planMarkdown(md, output.plan());
        }
        output.finish(source, o.tokenizer(), spec, json, md);
        return new Result(out, reports, done, (System.nanoTime() - t0) / 1e9);
    }

    /** A layer's bytes in the packed file, as the report and vq inspect count them: its tensors' data and its layout record. */
    public static long layerBytes(String name, PackedMatrix q) {
        return JobReport.layerBytes(name, q);
    }

    /** The key of the per-layer plan in the checkpoint record and in quantize-report.json. */
    public static final String PLAN = "target_bpw_plan";

    /**
     * The per-layer plan recorded in {@code out} (an unfinished run's checkpoint record, or a
     * finished run's report), or null when there is none: a resumed --target-bpw run goes on
     * with it instead of measuring again.
     */
    public static ObjectNode recordedPlan(Path out) {
        return JobOutput.recordedPlan(out);
    }

    private static long calibBytes(Path calib) {
        try {
            return Files.isRegularFile(calib) ? Files.size(calib) : 0; // a missing file is CalibrationTokens' to report
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * The quantizer for a spec, after checking that it can quantize every linear layer of a
     * model of this shape: an input error naming the first layer it cannot, before any work.
     */
    public static LayerQuantizer validate(QuantSpec spec, LlamaConfig c) {
        LayerQuantizer q = spec.options().method();
        int[][] shapes = {{c.qDim(), c.dim()}, {c.kvDim(), c.dim()}, {c.kvDim(), c.dim()}, {c.dim(), c.qDim()},
                {c.hiddenDim(), c.dim()}, {c.hiddenDim(), c.dim()}, {c.dim(), c.hiddenDim()}};
        String[] names = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
        for (int i = 0; i < shapes.length; i++) {
            try {
                q.validate(spec, shapes[i][0], shapes[i][1]);
            } catch (IllegalArgumentException e) {
                throw new InputException(spec.method() + " on " + names[i] + " (" + shapes[i][0] + "x" + shapes[i][1]
                        + "): " + e.getMessage());
            }
        }
        if (spec.sharesCodebooks()) {
            Map<String, int[]> byName = new LinkedHashMap<>();
            String[] hf = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
            for (int i = 0; i < shapes.length; i++) {
                byName.put(hf[i], shapes[i]);
            }
            try {
                SharedCodebooks.checkPools(spec, byName, c.nLayers());
            } catch (IllegalArgumentException e) {
                throw new InputException(spec.method() + ": " + e.getMessage());
            }
        }
        return q;
    }
}
