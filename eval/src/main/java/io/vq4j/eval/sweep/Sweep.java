package io.vq4j.eval.sweep;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;
import io.vq4j.eval.TextInput;
import io.vq4j.eval.WindowLoop;
import io.vq4j.eval.metrics.LayerMetrics;
import io.vq4j.eval.metrics.ModelMetrics;
import io.vq4j.kernels.Backend;
import io.vq4j.model.ActivationHook;
import io.vq4j.model.DecoderBlock;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.DeviceModels;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.Linear;
import io.vq4j.model.LinearGroup;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.LlamaModel;
import io.vq4j.pack.PackedStats;
import io.vq4j.quant.calib.CalibrationTokens;
import io.vq4j.quant.budget.BudgetJob;
import io.vq4j.quant.budget.Candidate;
import io.vq4j.quant.budget.Sensitivity;
import io.vq4j.quant.job.QuantizeJob;
import io.vq4j.quant.job.SourceDigest;
import io.vq4j.quant.Methods;
import io.vq4j.quant.SourceModel;
import io.vq4j.quant.method.Method;
import io.vq4j.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * `vq sweep`: every configuration is quantized once (a `vq quantize` directory under
 * runs/NAME/model) and evaluated with every metric: per tensor (weight MSE, SQNR, the
 * Hessian-weighted error, output cosine and relative error on Gaussian inputs and on the
 * unquantized model's own activations for real calibration text) and stacked (perplexity on
 * the evaluation text, KL of the next-token distributions against the unquantized model,
 * top-1 agreement). A configuration's result is written to runs/NAME/result.json when it is
 * complete; a sweep started again with the same settings skips those, and an interrupted
 * quantization resumes where it stopped.
 */
public final class Sweep {
    public static final String SETTINGS = "sweep-settings.json";
    static final ObjectMapper JSON = new ObjectMapper();

    private Sweep() {
    }

    /**
     * @param calibSamples n calibration sequences for quantization
     * @param calibLen     tokens per sequence (0 = min(512, the model's max))
     * @param ctx          evaluation window (0 = the model's max)
     * @param realSamples  calibration sequences whose activations feed the per-tensor "real" metrics
     * @param randomRows   Gaussian input rows for the per-tensor "random" metrics
     */
    public record Options(Path model, Path calib, Path text, long textBytes, Tokenizer tokenizer, int calibSamples,
                          int calibLen, int ctx, long seed, int seeds, int realSamples, int randomRows, Path out) {
        /** One seed: the sweep as before seeds were counted (runs/NAME, same fingerprint). */
        public Options(Path model, Path calib, Path text, long textBytes, Tokenizer tokenizer, int calibSamples,
                       int calibLen, int ctx, long seed, int realSamples, int randomRows, Path out) {
            this(model, calib, text, textBytes, tokenizer, calibSamples, calibLen, ctx, seed, 1, realSamples,
                    randomRows, out);
        }
    }

    /** The most seeds one sweep runs per configuration. */
    public static final int MAX_SEEDS = 100;

    public interface Listener {
        default void info(String line) {
        }

        default void started(int i, int n, SweepSpec.Config c) {
        }

        /** With --seeds N > 1: the run of configuration i with the s-th seed (0-based) starts. */
        default void seedStarted(int i, int s, int seeds, long seed) {
        }

        default void quantizeProgress(int block, int blocks, String layer) {
        }

        default void finished(int i, int n, Result r, boolean resumed) {
        }
    }

    /** Per-tensor metrics of one quantized layer against the original. */
    public record LayerResult(String name, int rows, int cols, double mse, double sqnrDb, double relHessianError,
                              double cosineRandom, double relErrorRandom, double cosineReal, double relErrorReal) {
    }

    /** One configuration, evaluated. */
    public record Result(String name, String slug, String method, Map<String, String> options, List<String> arguments,
                         double nominalBitsPerWeight, double trueBitsPerWeight, long packedBytes, long weights,
                         double ppl, double referencePpl, double meanKl, double top1Agreement, long positions,
                         double quantizeSeconds, double evalSeconds, String device, List<LayerResult> layers,
                         long seed) {
        public double pplRatio() {
            return ppl / referencePpl;
        }

        public double meanCosineRandom() {
            return layers.stream().mapToDouble(LayerResult::cosineRandom).average().orElse(Double.NaN);
        }

        public double meanCosineReal() {
            return layers.stream().mapToDouble(LayerResult::cosineReal).average().orElse(Double.NaN);
        }

        public double meanSqnrDb() {
            return layers.stream().mapToDouble(LayerResult::sqnrDb).average().orElse(Double.NaN);
        }

        public double meanMse() {
            return layers.stream().mapToDouble(LayerResult::mse).average().orElse(Double.NaN);
        }

        public double meanRelHessianError() {
            return layers.stream().mapToDouble(LayerResult::relHessianError).average().orElse(Double.NaN);
        }

        /** This result reported for another seed (a configuration that does not use the seed: {@link #seedFree}). */
        public Result withSeed(long s) {
            return new Result(name, slug, method, options, arguments, nominalBitsPerWeight, trueBitsPerWeight,
                    packedBytes, weights, ppl, referencePpl, meanKl, top1Agreement, positions, quantizeSeconds,
                    evalSeconds, device, layers, s);
        }
    }

    /**
     * Whether a configuration gives the same result under every seed: its method declares that it
     * never uses the seed ({@link Method#usesSeed}: rtn, gptq, which are not even given it), and
     * nothing else in a run depends on the seed (the calibration sequences and the per-tensor
     * metrics' inputs are the same for every seed). A budget row is not: its candidates may use it.
     */
    public static boolean seedFree(SweepSpec.Config cfg) {
        return !cfg.isBudget() && seedFree(cfg.method());
    }

    /** Whether the method of this name declares that it never uses the seed. */
    public static boolean seedFree(String method) {
        Method<?> m = Methods.find(method);
        return m != null && !m.usesSeed();
    }

    /**
     * Runs the sweep. {@code quantizeOn} runs the quantizers' kernels; {@code evalOn} holds
     * the packed layers for the stacked evaluation (null: dequantized on the CPU).
     */
    public static List<Result> run(SourceModel source, LlamaModel reference, List<SweepSpec.Config> configs,
                                   Options o, Backend quantizeOn, Backend evalOn, Listener listener) {
        LlamaConfig c = source.config();
        for (SweepSpec.Config cfg : configs) {
            if (cfg.isBudget()) {
                BudgetJob.checkCandidates(cfg.candidates());
            }
            for (Candidate cand : cfg.isBudget() ? cfg.candidates() : List.of(new Candidate(cfg.name(), cfg.spec()))) {
                try {
                    QuantizeJob.validate(cand.spec(), c);
                } catch (InputException e) {
                    throw new InputException((cfg.isBudget() ? "--candidates: '" : "--configs: '") + cand.name()
                            + "': " + e.getMessage());
                }
            }
        }
        int len = calibLen(o, c);
        int ctx = ctx(o, c);
        WindowLoop.checkModel(o.model(), c.maxSeqLen());
        WindowLoop.checkCtx(ctx, c.maxSeqLen());
        if (o.realSamples() < 1 || o.realSamples() > o.calibSamples()) {
            throw new InputException("--real-samples: must be 1..--calib-samples (" + o.calibSamples() + "), got "
                    + o.realSamples());
        }
        if (o.seeds() < 1 || o.seeds() > MAX_SEEDS) {
            throw new InputException("--seeds: must be 1.." + MAX_SEEDS + ", got " + o.seeds());
        }
        if (o.randomRows() < 1) {
            throw new InputException("--random-rows: must be at least 1, got " + o.randomRows());
        }
        TextInput.Encoded evalText = TextInput.encode(o.text(), o.textBytes(), o.tokenizer());
        String text = evalText.text();
        int[] ids = evalText.ids();
        if (ids.length < 2) {
            throw InputException.at(o.text(), "gives " + ids.length + " token(s); evaluation needs at least 2");
        }
        int[] realTokens = CalibrationTokens.read(o.calib(), o.tokenizer(), o.realSamples(), len);
        String device = evalOn == null ? "cpu" : evalOn.name();
        Path out = o.out().toAbsolutePath().normalize();
        String fingerprint = fingerprint(source, o, text, len, ctx, device);
        prepare(out, fingerprint, o, len, ctx, device, ids.length);

        List<Result> results = new ArrayList<>();
        Map<String, List<Sensitivity.Layer>> measured = new HashMap<>(); // the budget rows' one measurement, with --seed
        // the unquantized model's logits, computed once for every configuration when they fit in memory
        ModelMetrics.Reference[] fp = new ModelMetrics.Reference[1];
        boolean keepReference = ModelMetrics.referenceBytes(reference, ids.length)
                <= Runtime.getRuntime().maxMemory() / 4;
        Supplier<ModelMetrics.Reference> fpLogits = () -> {
            if (fp[0] == null && keepReference) {
                listener.info("evaluating the unquantized model once (its logits kept for every configuration)");
                fp[0] = ModelMetrics.reference(reference, ids, ctx);
            }
            return fp[0];
        };
        for (int i = 0; i < configs.size(); i++) {
            SweepSpec.Config cfg = configs.get(i);
            listener.started(i, configs.size(), cfg);
            Result first = null;
            for (int si = 0; si < o.seeds(); si++) {
                long seed = o.seed() + si;
                // one seed: runs/NAME as before; several: runs/NAME/seed-S
                Path dir = out.resolve("runs").resolve(cfg.slug());
                if (o.seeds() > 1) {
                    dir = dir.resolve("seed-" + seed);
                    listener.seedStarted(i, si, o.seeds(), seed);
                }
                Path resultFile = dir.resolve("result.json");
                if (Files.isRegularFile(resultFile)) {
                    Result r = readResult(resultFile, seed);
                    first = first == null ? r : first;
                    results.add(r);
                    listener.finished(i, configs.size(), r, true);
                    continue;
                }
                if (first != null && seedFree(cfg)) {
                    Result r = first.withSeed(seed);
                    listener.info(cfg.name() + ": " + cfg.method() + " does not use the seed; seed " + first.seed()
                            + "'s result stands for seed " + seed + " (not run again)");
                    results.add(r);
                    listener.finished(i, configs.size(), r, true);
                    continue;
                }
                Result r = runOne(source, reference, fpLogits, cfg, o, seed, dir, len, ctx, ids, realTokens, device,
                        quantizeOn, evalOn, listener, measured);
                writeResult(resultFile, r);
                first = first == null ? r : first;
                results.add(r);
                listener.finished(i, configs.size(), r, false);
            }
        }
        return results;
    }

    /**
     * One configuration with one seed: quantized into dir/model and evaluated. The seed drives
     * the quantizer (initialisation, sampling); the Gaussian inputs of the per-tensor metrics
     * keep the sweep's --seed, so every seed is measured on the same inputs.
     */
    private static Result runOne(SourceModel source, LlamaModel reference, Supplier<ModelMetrics.Reference> fpLogits,
                                 SweepSpec.Config cfg, Options o, long seed, Path dir, int len, int ctx, int[] ids,
                                 int[] realTokens, String device, Backend quantizeOn, Backend evalOn,
                                 Listener listener, Map<String, List<Sensitivity.Layer>> measured) {
        long t0 = System.nanoTime();
        var qo = new QuantizeJob.Options(o.model(), o.calib(), o.tokenizer(), cfg.spec(), o.calibSamples(), len,
                seed, dir.resolve("model"));
        QuantizeJob.Listener ql = new QuantizeJob.Listener() {
            @Override
            public void progress(int block, int blocks, int layer, int layers, String name) {
                listener.quantizeProgress(block, blocks, name);
            }

            @Override
            public void info(String line) {
                listener.info(line);
            }
        };
        QuantizeJob.Result q = cfg.isBudget()
                ? BudgetJob.run(source, qo, cfg.targetBpw(), cfg.candidates(), quantizeOn, ql,
                BudgetJob.Proxy.parse(cfg.sensitivity()), measured, o.seed()).job()
                : QuantizeJob.run(source, qo, quantizeOn, ql);
        double quantizeSeconds = (System.nanoTime() - t0) / 1e9;
        long t1 = System.nanoTime();
        LlamaCheckpoint dequantized = HfCheckpoints.read(q.out());
        Map<String, Double> relH = new LinkedHashMap<>();
        q.layers().forEach(l -> relH.put(l.name(), l.relativeError()));
        List<LayerResult> layers = perTensor(source, dequantized, relH, realTokens, o.realSamples(), len,
                o.randomRows(), o.seed());
        LlamaCheckpoint onDevice = evalOn == null ? dequantized : HfCheckpoints.read(q.out(), evalOn);
        ModelMetrics.Result m;
        try {
            // the same numbers either way (ModelMetrics.compare(Reference, ...)); the kept logits save a pass
            ModelMetrics.Reference fp = fpLogits.get();
            m = fp != null ? ModelMetrics.compare(fp, LlamaModel.of(onDevice))
                    : ModelMetrics.compare(reference, LlamaModel.of(onDevice), ids, ctx);
        } finally {
            DeviceModels.release(onDevice); // the device copies of this configuration
        }
        double evalSeconds = (System.nanoTime() - t1) / 1e9;
        // counted on the files, as `vq inspect` counts them: all overhead charged to the quantized layers
        PackedStats.Stats st = PackedStats.of(q.out());
        return new Result(cfg.name(), cfg.slug(), cfg.method(), cfg.options(), cfg.arguments(),
                st.nominalBitsPerWeight(), st.trueBitsPerWeight(), st.fileBytes() - st.unquantizedDataBytes(),
                st.quantizedWeights(), m.quantizedPpl(), m.referencePpl(), m.meanKl(),
                m.top1Agreement(), m.positions(), quantizeSeconds, evalSeconds, device, layers, seed);
    }

    /** Tokens per calibration sequence. */
    static int calibLen(Options o, LlamaConfig c) {
        return o.calibLen() > 0 ? o.calibLen() : Math.min(512, c.maxSeqLen());
    }

    /** The evaluation window. */
    static int ctx(Options o, LlamaConfig c) {
        return o.ctx() > 0 ? o.ctx() : c.maxSeqLen();
    }

    /**
     * Per-tensor metrics of every quantized layer, each in isolation: its inputs are the
     * unquantized model's activations (the first realSamples calibration sequences), so the
     * numbers describe the layer alone, as a per-tensor study would.
     */
    static List<LayerResult> perTensor(SourceModel source, LlamaCheckpoint dequantized, Map<String, Double> relHessian,
                                       int[] tokens, int samples, int len, int randomRows, long seed) {
        LlamaConfig c = source.config();
        DecoderBlock block = new DecoderBlock(c);
        float[][] x = new float[samples][];
        for (int s = 0; s < samples; s++) {
            x[s] = source.embed(tokens, s * len, len);
        }
        List<LayerResult> out = new ArrayList<>();
        for (int b = 0; b < c.nLayers(); b++) {
            LayerWeights dq = dequantized.weights().layers().get(b);
            String prefix = SourceModel.prefix(b);
            block.forward(source.block(b), x, len, new ActivationHook() {
                float[] xs;

                @Override
                public void input(LinearGroup group, int sequence, float[] in, int rows) {
                    if (xs == null) {
                        xs = new float[samples * in.length];
                    }
                    System.arraycopy(in, 0, xs, sequence * in.length, in.length);
                }

                @Override
                public LayerWeights weights(LinearGroup group, LayerWeights fp) {
                    for (String linear : group.linears()) {
                        DenseLinear w = dense(fp.linear(linear), linear);
                        DenseLinear wq = dense(dq.linear(linear), linear);
                        int rows = w.outFeatures();
                        int cols = w.inFeatures();
                        String name = prefix + linear;
                        float[] gauss = LayerMetrics.gaussianInputs(randomRows, cols, seed ^ name.hashCode());
                        LayerMetrics.Fidelity fr = LayerMetrics.outputFidelity(w.weight(), wq.weight(), rows, cols,
                                gauss, randomRows);
                        LayerMetrics.Fidelity fx = LayerMetrics.outputFidelity(w.weight(), wq.weight(), rows, cols,
                                xs, samples * len);
                        Double rel = relHessian.get(name);
                        out.add(new LayerResult(name, rows, cols, LayerMetrics.mse(w.weight(), wq.weight()),
                                LayerMetrics.sqnrDb(w.weight(), wq.weight()), rel == null ? Double.NaN : rel,
                                fr.cosine(), fr.relError(), fx.cosine(), fx.relError()));
                    }
                    xs = null;
                    return fp;
                }
            });
        }
        return out;
    }

    static DenseLinear dense(Linear l, String name) {
        if (l instanceof DenseLinear d) {
            return d;
        }
        throw new IllegalStateException(name + " is " + l.getClass().getSimpleName() + ", not dense");
    }

    private static String fingerprint(SourceModel source, Options o, String text, int len, int ctx, String device) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(("vq4j-sweep-1\n" + source.configJson() + "\n" + o.calibSamples() + "x" + len + " ctx " + ctx
                    + " seed " + o.seed() + (o.seeds() > 1 ? " seeds " + o.seeds() : "") + " real " + o.realSamples()
                    + " random " + o.randomRows() + " device "
                    + device + "\n").getBytes(StandardCharsets.UTF_8));
            md.update(modelStamp(o.model()).getBytes(StandardCharsets.UTF_8));
            md.update(Files.readAllBytes(o.calib()));
            md.update(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw InputException.at(o.calib(), "cannot read: " + e.getMessage());
        }
    }

    /**
     * The model's content (a CRC32C of its files, {@link SourceDigest}): names and sizes let a
     * model replaced before a resumed sweep mix its results with the first one's (issue 21).
     */
    private static String modelStamp(Path model) throws IOException {
        return SourceDigest.stamp(model);
    }

    private static void prepare(Path out, String fingerprint, Options o, int len, int ctx, String device, int tokens) {
        prepareOut(out, fingerprint, "model, texts, sample counts, seed or device", n -> {
            n.put("model", o.model().toString());
            n.put("calib", o.calib().toString());
            n.put("text", o.text().toString());
            n.put("text_bytes", o.textBytes());
            n.put("text_tokens", tokens);
            n.put("calib_samples", o.calibSamples());
            n.put("calib_len", len);
            n.put("ctx", ctx);
            n.put("seed", o.seed());
            n.put("seeds", o.seeds());
            n.put("real_samples", o.realSamples());
            n.put("random_rows", o.randomRows());
            n.put("device", device);
        });
    }

    /**
     * Makes a sweep's output directory ready: new (created, settings written with the
     * fingerprint and what {@code settings} adds), or one holding a sweep with the same
     * fingerprint (to resume). Anything else is refused; {@code what} names the settings.
     */
    static void prepareOut(Path out, String fingerprint, String what, Consumer<ObjectNode> settings) {
        Path file = out.resolve(SETTINGS);
        try {
            if (Files.exists(out) && !Files.isDirectory(out)) {
                throw InputException.at(out, "exists and is not a directory; choose a new --out");
            }
            if (Files.isRegularFile(file)) {
                JsonNode s = JSON.readTree(file.toFile());
                if (!fingerprint.equals(s.path("fingerprint").asText())) {
                    throw InputException.at(out, "holds a sweep with other settings (" + what + "); choose a new --out");
                }
                return;
            }
            if (Files.isDirectory(out)) {
                try (var s = Files.list(out)) {
                    if (s.findAny().isPresent()) {
                        throw InputException.at(out, "exists, is not empty and holds no sweep; choose a new --out");
                    }
                }
            }
            Files.createDirectories(out);
            ObjectNode n = JSON.createObjectNode();
            n.put("fingerprint", fingerprint);
            settings.accept(n);
            AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
        } catch (IOException e) {
            throw InputException.at(out, "cannot prepare the output directory: " + e.getMessage());
        }
    }

    static ObjectNode toJson(Result r) {
        ObjectNode n = JSON.createObjectNode();
        n.put("name", r.name());
        n.put("slug", r.slug());
        n.put("method", r.method());
        ObjectNode opts = n.putObject("options");
        r.options().forEach((k, v) -> opts.put(k.substring(2), v));
        ArrayNode args = n.putArray("arguments");
        r.arguments().forEach(args::add);
        n.put("nominal_bits_per_weight", r.nominalBitsPerWeight());
        n.put("true_bits_per_weight", r.trueBitsPerWeight());
        n.put("packed_bytes", r.packedBytes());
        n.put("weights", r.weights());
        n.put("ppl", r.ppl());
        n.put("reference_ppl", r.referencePpl());
        n.put("ppl_ratio", r.pplRatio());
        n.put("mean_kl", r.meanKl());
        n.put("top1_agreement", r.top1Agreement());
        n.put("positions", r.positions());
        n.put("mean_cosine_random", r.meanCosineRandom());
        n.put("mean_cosine_real", r.meanCosineReal());
        n.put("mean_sqnr_db", r.meanSqnrDb());
        n.put("mean_mse", r.meanMse());
        n.put("mean_rel_hessian_error", r.meanRelHessianError());
        n.put("quantize_seconds", r.quantizeSeconds());
        n.put("eval_seconds", r.evalSeconds());
        n.put("device", r.device());
        n.put("seed", r.seed());
        layersToJson(n.putArray("layers"), r.layers());
        return n;
    }

    /** Per-tensor results as JSON objects (shared with the encoder sweep). */
    static void layersToJson(ArrayNode ls, List<LayerResult> layers) {
        for (LayerResult l : layers) {
            ObjectNode x = ls.addObject();
            x.put("name", l.name());
            x.put("rows", l.rows());
            x.put("cols", l.cols());
            x.put("mse", l.mse());
            x.put("sqnr_db", l.sqnrDb());
            x.put("rel_hessian_error", l.relHessianError());
            x.put("cosine_random", l.cosineRandom());
            x.put("rel_error_random", l.relErrorRandom());
            x.put("cosine_real", l.cosineReal());
            x.put("rel_error_real", l.relErrorReal());
        }
    }

    static List<LayerResult> layersFromJson(JsonNode a) {
        List<LayerResult> layers = new ArrayList<>();
        for (JsonNode x : a) {
            layers.add(new LayerResult(x.path("name").asText(), x.path("rows").asInt(), x.path("cols").asInt(),
                    x.path("mse").asDouble(), num(x.path("sqnr_db")), num(x.path("rel_hessian_error")),
                    x.path("cosine_random").asDouble(), x.path("rel_error_random").asDouble(),
                    x.path("cosine_real").asDouble(), x.path("rel_error_real").asDouble()));
        }
        return layers;
    }

    static Result fromJson(JsonNode n) {
        return fromJson(n, n.path("seed").asLong());
    }

    /** A result; one written before seeds were recorded gets {@code seed} (the seed it was run with). */
    static Result fromJson(JsonNode n, long seed) {
        Map<String, String> opts = new LinkedHashMap<>();
        n.path("options").properties().forEach(e -> opts.put("--" + e.getKey(), e.getValue().asText()));
        List<String> args = new ArrayList<>();
        n.path("arguments").forEach(a -> args.add(a.asText()));
        List<LayerResult> layers = layersFromJson(n.path("layers"));
        return new Result(n.path("name").asText(), n.path("slug").asText(), n.path("method").asText(), opts, args,
                n.path("nominal_bits_per_weight").asDouble(), n.path("true_bits_per_weight").asDouble(),
                n.path("packed_bytes").asLong(), n.path("weights").asLong(), n.path("ppl").asDouble(),
                n.path("reference_ppl").asDouble(), n.path("mean_kl").asDouble(), n.path("top1_agreement").asDouble(),
                n.path("positions").asLong(), n.path("quantize_seconds").asDouble(),
                n.path("eval_seconds").asDouble(), n.path("device").asText(), layers,
                n.has("seed") ? n.path("seed").asLong() : seed);
    }

    /** Jackson writes non-finite doubles as strings ("Infinity"); read them back as numbers. */
    private static double num(JsonNode v) {
        return v.isTextual() ? Double.parseDouble(v.asText()) : v.asDouble();
    }

    private static void writeResult(Path file, Result r) {
        try {
            AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson(r)) + "\n");
        } catch (IOException e) {
            throw InputException.at(file, "cannot write: " + e.getMessage());
        }
    }

    private static Result readResult(Path file, long seed) {
        try {
            return fromJson(JSON.readTree(file.toFile()), seed);
        } catch (IOException e) {
            throw InputException.at(file, "cannot read a finished configuration's result: " + e.getMessage()
                    + "; delete it to evaluate that configuration again");
        }
    }

    static String fmt(String f, Object... a) {
        return String.format(Locale.ROOT, f, a);
    }
}
