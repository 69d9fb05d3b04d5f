package io.vq4j.eval.sweep;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;
import io.vq4j.eval.TextInput;
import io.vq4j.eval.metrics.LayerMetrics;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.model.minilm.LinearLayer;
import io.vq4j.model.minilm.MiniLm;
import io.vq4j.pack.PackedLayers;
import io.vq4j.quant.Methods;
import io.vq4j.quant.budget.BudgetJob;
import io.vq4j.quant.budget.Candidate;
import io.vq4j.quant.budget.Sensitivity;
import io.vq4j.quant.job.LayerPlan;
import io.vq4j.quant.calib.CalibratedLayer;
import io.vq4j.quant.calib.Calibration;
import io.vq4j.quant.calib.EncoderTarget;
import io.vq4j.quant.job.SourceDigest;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.method.QuantSpec;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * `vq sweep` on a sentence encoder (all-MiniLM-L6-v2 read from its ONNX file): every linear
 * layer of the encoder quantized with each configuration, evaluated per tensor (as for a
 * causal LM) and stacked by the one thing a sentence encoder is for — the cosine between each
 * real sentence's embedding from the quantized model and from the fp32 model.
 *
 * <p>Quantization is block-sequential ({@link Calibration} over an {@link EncoderTarget}): the
 * Hessians of layer L's linears come from the calibration sentences run through the model whose
 * layers before L are already quantized (within a layer, all six linears see the fp32 inputs of
 * that pass). The packed layers are
 * written to runs/NAME/layers.safetensors; true bits/weight is that file's size × 8 / the
 * quantized weights (headers and layouts included). Word embeddings, LayerNorms and biases
 * stay fp32 and are not counted, as for the causal models.
 *
 * <p>Sentences: each line of a text, cut after '.', '!' or '?' followed by a space and an
 * upper-case letter or a quote; headings ("= … =") and sentences of fewer than 6 or more than
 * 64 words are skipped. The first n of the calibration text calibrate; the first m of the
 * evaluation text are embedded.
 */
public final class EncoderSweep {
    public static final String RESULT = "result.json";
    public static final String LAYERS = "layers.safetensors";
    /** A --target-bpw row's per-layer choice, beside its layers. */
    public static final String PLAN = "target-bpw-plan.json";
    private static final Pattern SPLIT = Pattern.compile("(?<=[.!?])\\s+(?=[A-Z\"'(])");

    private EncoderSweep() {
    }

    /**
     * @param calibSentences sentences of --calib that calibrate
     * @param evalSentences  sentences of --text that are embedded
     * @param realSamples    calibration sentences whose fp32 activations feed the per-tensor "real" metrics
     */
    public record Options(Path model, Path calib, Path text, long textBytes, int calibSentences, int evalSentences,
                          long seed, int seeds, int realSamples, int randomRows, Path out) {
        /** One seed: runs/NAME and the fingerprint as before seeds were counted. */
        public Options(Path model, Path calib, Path text, long textBytes, int calibSentences, int evalSentences,
                       long seed, int realSamples, int randomRows, Path out) {
            this(model, calib, text, textBytes, calibSentences, evalSentences, seed, 1, realSamples, randomRows, out);
        }
    }

    /** One configuration, evaluated. */
    public record Result(String name, String slug, String method, Map<String, String> options,
                         double nominalBitsPerWeight, double trueBitsPerWeight, long packedBytes, long weights,
                         double meanCosine, double minCosine, double p05Cosine, int sentences,
                         double quantizeSeconds, double evalSeconds, List<Sweep.LayerResult> layers, long seed) {
        public double meanCosineRandom() {
            return layers.stream().mapToDouble(Sweep.LayerResult::cosineRandom).average().orElse(Double.NaN);
        }

        public double meanCosineReal() {
            return layers.stream().mapToDouble(Sweep.LayerResult::cosineReal).average().orElse(Double.NaN);
        }

        public double meanSqnrDb() {
            return layers.stream().mapToDouble(Sweep.LayerResult::sqnrDb).average().orElse(Double.NaN);
        }

        public double meanMse() {
            return layers.stream().mapToDouble(Sweep.LayerResult::mse).average().orElse(Double.NaN);
        }

        public double meanRelHessianError() {
            return layers.stream().mapToDouble(Sweep.LayerResult::relHessianError).average().orElse(Double.NaN);
        }

        /** This result reported for another seed (a configuration that does not use it: {@link Sweep#seedFree}). */
        public Result withSeed(long s) {
            return new Result(name, slug, method, options, nominalBitsPerWeight, trueBitsPerWeight, packedBytes,
                    weights, meanCosine, minCosine, p05Cosine, sentences, quantizeSeconds, evalSeconds, layers, s);
        }
    }

    /** Whether a --model path names a sentence encoder in ONNX form (a .onnx, a jar holding one, or a directory with one). */
    public static boolean isEncoder(Path model) {
        String n = model.getFileName() == null ? "" : model.getFileName().toString().toLowerCase();
        if (n.endsWith(".onnx") || n.endsWith(".jar") || n.endsWith(".zip")) {
            return true;
        }
        if (Files.isDirectory(model)) {
            try (var s = Files.list(model)) {
                return s.anyMatch(p -> p.getFileName().toString().endsWith(".onnx"));
            } catch (IOException e) {
                return false;
            }
        }
        return false;
    }

    /** The sentences of a text, in order (see the class comment). */
    public static List<String> sentences(String text, int max) {
        List<String> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("=")) {
                continue;
            }
            for (String s : SPLIT.split(l)) {
                String t = s.strip();
                int words = t.isEmpty() ? 0 : t.split("\\s+").length;
                if (words >= 6 && words <= 64) {
                    out.add(t);
                    if (out.size() == max) {
                        return out;
                    }
                }
            }
        }
        return out;
    }

    /** Progress of a run. */
    public interface Listener {
        default void info(String line) {
        }

        default void started(int i, int n, SweepSpec.Config c) {
        }

        /** With --seeds N > 1: the run of configuration i with the s-th seed (0-based) starts. */
        default void seedStarted(int i, int s, int seeds, long seed) {
        }

        default void quantizeProgress(int layer, int layers) {
        }

        default void finished(int i, int n, Result r, boolean resumed) {
        }
    }

    public static List<Result> run(MiniLm fp, List<SweepSpec.Config> configs, Options o, Backend backend,
                                   Listener listener) {
        List<LinearLayer> linears = fp.linears();
        for (SweepSpec.Config cfg : configs) {
            if (cfg.isBudget()) {
                BudgetJob.checkCandidates(cfg.candidates());
                for (Candidate cand : cfg.candidates()) {
                    validate(cand.name(), cand.spec(), linears, "--candidates");
                }
            } else {
                validate(cfg.name(), cfg.spec(), linears, "--configs");
            }
        }
        if (o.calibSentences() < 1 || o.evalSentences() < 1) {
            throw new InputException("--calib-samples and --sentences: must be at least 1");
        }
        if (o.realSamples() < 1 || o.realSamples() > o.calibSentences()) {
            throw new InputException("--real-samples: must be 1..--calib-samples (" + o.calibSentences() + "), got "
                    + o.realSamples());
        }
        if (o.randomRows() < 1) {
            throw new InputException("--random-rows: must be at least 1, got " + o.randomRows());
        }
        if (o.seeds() < 1 || o.seeds() > Sweep.MAX_SEEDS) {
            throw new InputException("--seeds: must be 1.." + Sweep.MAX_SEEDS + ", got " + o.seeds());
        }
        List<String> calib = sentences(TextInput.read(o.calib(), 0), o.calibSentences());
        if (calib.size() < o.calibSentences()) {
            throw InputException.at(o.calib(), "gives " + calib.size() + " sentences; --calib-samples needs "
                    + o.calibSentences());
        }
        String evalText = TextInput.read(o.text(), o.textBytes());
        List<String> eval = sentences(evalText, o.evalSentences());
        if (eval.size() < o.evalSentences()) {
            throw InputException.at(o.text(), "gives " + eval.size() + " sentences; --sentences needs "
                    + o.evalSentences());
        }
        Path out = o.out().toAbsolutePath().normalize();
        prepare(out, fingerprint(o, calib, eval), o);

        listener.info("embedding " + eval.size() + " evaluation sentences with the fp32 model");
        float[][] reference = fp.embed(eval);
        // the fp32 inputs of every linear for the first realSamples calibration sentences
        Map<String, float[]> real = new LinkedHashMap<>();
        Map<String, Integer> realRows = new LinkedHashMap<>();
        fp.embed(calib.subList(0, o.realSamples()), (name, x, tokens, cols) -> {
            float[] prev = real.get(name);
            float[] joined = prev == null ? new float[tokens * cols] : Arrays.copyOf(prev, prev.length
                    + tokens * cols);
            System.arraycopy(x, 0, joined, prev == null ? 0 : prev.length, tokens * cols);
            real.put(name, joined);
            realRows.merge(name, tokens, Integer::sum);
        });

        List<Result> results = new ArrayList<>();
        Map<String, List<Sensitivity.Layer>> measured = new HashMap<>(); // the budget rows' one measurement, with --seed
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
                Path resultFile = dir.resolve(RESULT);
                Result r = Files.isRegularFile(resultFile) ? readResult(resultFile, seed) : null;
                if (r == null && first != null && Sweep.seedFree(cfg)) {
                    r = first.withSeed(seed);
                    listener.info(cfg.name() + ": " + cfg.method() + " does not use the seed; seed " + first.seed()
                            + "'s result stands for seed " + seed + " (not run again)");
                }
                boolean resumed = r != null;
                if (r == null) {
                    r = runOne(fp, linears, cfg, o, seed, dir, calib, eval, reference, real, realRows, backend,
                            listener, measured);
                    writeResult(resultFile, r);
                }
                first = first == null ? r : first;
                results.add(r);
                listener.finished(i, configs.size(), r, resumed);
            }
        }
        return results;
    }

    private static void validate(String name, QuantSpec s, List<LinearLayer> linears, String option) {
        try {
            if (s.sharesCodebooks()) {
                throw new IllegalArgumentException("--share-codebooks is not available for encoder models");
            }
            LayerQuantizer q = Methods.forName(s.method());
            for (LinearLayer l : linears.subList(0, 6)) {
                try {
                    q.validate(s, l.rows(), l.cols());
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(s.method() + " on " + l.name() + " (" + l.rows() + "x"
                            + l.cols() + "): " + e.getMessage());
                }
            }
        } catch (IllegalArgumentException e) {
            throw new InputException(option + ": '" + name + "': " + e.getMessage());
        }
    }

    /**
     * One configuration with one seed: every linear quantized block-sequentially, the packed
     * layers written to dir, and evaluated. The per-tensor metrics' Gaussian inputs keep the
     * sweep's --seed, so every seed is measured on the same inputs.
     */
    private static Result runOne(MiniLm fp, List<LinearLayer> linears, SweepSpec.Config cfg, Options o, long seed,
                                 Path dir, List<String> calib, List<String> eval, float[][] reference,
                                 Map<String, float[]> real, Map<String, Integer> realRows, Backend backend,
                                 Listener listener, Map<String, List<Sensitivity.Layer>> measured) {
        long t0 = System.nanoTime();
        QuantSpec spec = cfg.spec();
        Map<String, PackedMatrix> packed = new LinkedHashMap<>();
        Map<String, Double> relH = new LinkedHashMap<>();
        LayerPlan plan = null;
        if (cfg.isBudget()) {
            plan = EncoderBudget.plan(fp, calib, cfg, backend, o.seed(), measured, listener::info);
        }
        EncoderTarget target = new EncoderTarget(fp, calib);
        new Calibration(plan != null ? plan.quantizer() : Methods.forName(spec.method()), spec, backend, seed).run(
                target, 0,
                new Calibration.Listener() {
                    @Override
                    public void blockStarted(int block, int blocks) {
                        listener.quantizeProgress(block, blocks);
                    }

                    @Override
                    public void layer(int block, CalibratedLayer l) {
                        packed.put(l.name(), l.packed());
                        relH.put(l.name(), l.relativeError());
                    }
                });
        Map<String, float[]> replaced = target.replaced();
        Files2.createDirectories(dir);
        Path layersFile = dir.resolve(LAYERS);
        SafeTensorsWriter w = new SafeTensorsWriter();
        w.metadata("format", "pt");
        packed.forEach((n, q) -> PackedLayers.write(n, q, w));
        try {
            w.write(layersFile);
            if (plan != null) {
                long budget = plan.record().path("budget_bytes").asLong();
                if (Files.size(layersFile) > budget) {
                    throw new IllegalStateException(layersFile + " holds " + Files.size(layersFile)
                            + " bytes, over the budget of " + budget);
                }
                AtomicFiles.writeString(dir.resolve(PLAN), Sweep.JSON.writerWithDefaultPrettyPrinter()
                        .writeValueAsString(plan.record()) + "\n");
            }
        } catch (IOException e) {
            throw InputException.at(layersFile, "cannot write: " + e.getMessage());
        }
        double quantizeSeconds = (System.nanoTime() - t0) / 1e9;

        long t1 = System.nanoTime();
        List<Sweep.LayerResult> perTensor = new ArrayList<>();
        for (LinearLayer l : linears) {
            float[] wq = replaced.get(l.name());
            float[] gauss = LayerMetrics.gaussianInputs(o.randomRows(), l.cols(), o.seed() ^ l.name().hashCode());
            LayerMetrics.Fidelity fr = LayerMetrics.outputFidelity(l.weight(), wq, l.rows(), l.cols(), gauss,
                    o.randomRows());
            LayerMetrics.Fidelity fx = LayerMetrics.outputFidelity(l.weight(), wq, l.rows(), l.cols(),
                    real.get(l.name()), realRows.get(l.name()));
            perTensor.add(new Sweep.LayerResult(l.name(), l.rows(), l.cols(), LayerMetrics.mse(l.weight(), wq),
                    LayerMetrics.sqnrDb(l.weight(), wq), relH.get(l.name()), fr.cosine(), fr.relError(),
                    fx.cosine(), fx.relError()));
        }
        float[][] quantized = fp.withWeights(replaced).embed(eval);
        double[] cos = new double[eval.size()];
        for (int s = 0; s < cos.length; s++) {
            cos[s] = cosine(reference[s], quantized[s]);
        }
        double[] sorted = cos.clone();
        Arrays.sort(sorted);
        double mean = 0;
        for (double c : cos) {
            mean += c;
        }
        mean /= cos.length;
        long weights = 0;
        double nominal = 0;
        for (Map.Entry<String, PackedMatrix> e : packed.entrySet()) {
            weights += e.getValue().weights();
            nominal += PackedLayers.nominalBitsPerWeight(e.getValue()) * e.getValue().weights();
        }
        long bytes;
        try {
            bytes = Files.size(layersFile);
        } catch (IOException e) {
            throw InputException.at(layersFile, "cannot read: " + e.getMessage());
        }
        Result r = new Result(cfg.name(), cfg.slug(), cfg.method(), cfg.options(), nominal / weights,
                bytes * 8.0 / weights, bytes, weights, mean, sorted[0],
                sorted[(int) Math.floor(0.05 * (sorted.length - 1))], cos.length, quantizeSeconds,
                (System.nanoTime() - t1) / 1e9, perTensor, seed);
        return r;
    }

    static double cosine(float[] a, float[] b) {
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return aa == 0 && bb == 0 ? 1 : ab / Math.sqrt(aa * bb);
    }

    /** Directory creation with the one-line error the CLI shows. */
    private static final class Files2 {
        static void createDirectories(Path dir) {
            try {
                Files.createDirectories(dir);
            } catch (IOException e) {
                throw InputException.at(dir, "cannot create: " + e.getMessage());
            }
        }
    }

    private static String fingerprint(Options o, List<String> calib, List<String> eval) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(("vq4j-encoder-sweep-1\n" + SourceDigest.stamp(o.model()) // content, not name and size
                    + calib.size() + " " + eval.size() + " seed " + o.seed() + (o.seeds() > 1 ? " seeds " + o.seeds()
                    : "") + " real " + o.realSamples() + " random " + o.randomRows() + "\n")
                    .getBytes(StandardCharsets.UTF_8));
            for (String s : calib) {
                md.update((s + "\n").getBytes(StandardCharsets.UTF_8));
            }
            md.update("--\n".getBytes(StandardCharsets.UTF_8));
            for (String s : eval) {
                md.update((s + "\n").getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw InputException.at(o.model(), "cannot read: " + e.getMessage());
        }
    }

    private static void prepare(Path out, String fingerprint, Options o) {
        Sweep.prepareOut(out, fingerprint, "model, texts, sentence counts or seed", n -> {
            n.put("kind", "encoder");
            n.put("model", o.model().toString());
            n.put("calib", o.calib().toString());
            n.put("text", o.text().toString());
            n.put("calib_sentences", o.calibSentences());
            n.put("eval_sentences", o.evalSentences());
            n.put("seed", o.seed());
            n.put("seeds", o.seeds());
            n.put("real_samples", o.realSamples());
            n.put("random_rows", o.randomRows());
        });
    }

    static ObjectNode toJson(Result r) {
        ObjectNode n = Sweep.JSON.createObjectNode();
        n.put("name", r.name());
        n.put("slug", r.slug());
        n.put("method", r.method());
        ObjectNode opts = n.putObject("options");
        r.options().forEach((k, v) -> opts.put(k.startsWith("--") ? k.substring(2) : k, v));
        n.put("nominal_bits_per_weight", r.nominalBitsPerWeight());
        n.put("true_bits_per_weight", r.trueBitsPerWeight());
        n.put("packed_bytes", r.packedBytes());
        n.put("weights", r.weights());
        n.put("embedding_cosine_mean", r.meanCosine());
        n.put("embedding_cosine_min", r.minCosine());
        n.put("embedding_cosine_p05", r.p05Cosine());
        n.put("sentences", r.sentences());
        n.put("mean_cosine_random", r.meanCosineRandom());
        n.put("mean_cosine_real", r.meanCosineReal());
        n.put("mean_sqnr_db", r.meanSqnrDb());
        n.put("mean_mse", r.meanMse());
        n.put("mean_rel_hessian_error", r.meanRelHessianError());
        n.put("quantize_seconds", r.quantizeSeconds());
        n.put("eval_seconds", r.evalSeconds());
        n.put("seed", r.seed());
        Sweep.layersToJson(n.putArray("layers"), r.layers());
        return n;
    }

    private static void writeResult(Path file, Result r) {
        try {
            AtomicFiles.writeString(file, Sweep.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson(r))
                    + "\n");
        } catch (IOException e) {
            throw InputException.at(file, "cannot write: " + e.getMessage());
        }
    }

    /** A result; one written before seeds were recorded gets {@code seed} (the seed it was run with). */
    private static Result readResult(Path file, long seed) {
        try {
            JsonNode n = Sweep.JSON.readTree(file.toFile());
            Map<String, String> opts = new LinkedHashMap<>();
            n.path("options").fields().forEachRemaining(e -> opts.put("--" + e.getKey(), e.getValue().asText()));
            List<Sweep.LayerResult> ls = Sweep.layersFromJson(n.path("layers"));
            return new Result(n.path("name").asText(), n.path("slug").asText(), n.path("method").asText(), opts,
                    n.path("nominal_bits_per_weight").asDouble(), n.path("true_bits_per_weight").asDouble(),
                    n.path("packed_bytes").asLong(), n.path("weights").asLong(), n.path("embedding_cosine_mean").asDouble(),
                    n.path("embedding_cosine_min").asDouble(), n.path("embedding_cosine_p05").asDouble(),
                    n.path("sentences").asInt(), n.path("quantize_seconds").asDouble(), n.path("eval_seconds").asDouble(),
                    ls, n.has("seed") ? n.path("seed").asLong() : seed);
        } catch (IOException e) {
            throw InputException.at(file, "cannot read: " + e.getMessage());
        }
    }
}
