package io.vq4j.quant.budget;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.Backend;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.ModelLoader;
import io.vq4j.pack.PackedLayers;
import io.vq4j.pack.PackedStats;
import io.vq4j.quant.SourceModel;
import io.vq4j.quant.calib.CalibrationTokens;
import io.vq4j.quant.calib.DecoderTarget;
import io.vq4j.quant.job.LayerPlan;
import io.vq4j.quant.job.QuantizeJob;
import io.vq4j.quant.method.QuantSpec;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * `vq quantize --target-bpw B`: measure every candidate on every layer ({@link Sensitivity}),
 * choose per layer under the budget ({@link BitsAllocator}), then quantize with that choice
 * ({@link QuantizeJob} with a {@link LayerPlan}: true-sequential, resumable, reported).
 *
 * <p>The budget is on the file's true bits, as vq inspect counts them: every byte of the
 * safetensors files except the unquantized tensors' data, over the quantized weights. So the
 * budget is ⌊B·W/8⌋ bytes and the bytes that belong to no layer (each shard's 8-byte length,
 * its header's tensor entries, metadata keys, escaping and padding) count against it too. The
 * allocator works on the layers' own bytes (tensors + layout record, additive); the files'
 * overhead is first taken as that of the cheapest choice, then each choice's exact file size is
 * computed by laying out the very shards the job will write (same tensors, names, order) without
 * their data; while it exceeds the budget the layers' share is cut by the excess and the choice
 * made again (the final exact repair). A candidate's sizes do not depend on the weights, so the
 * measured files' bytes equal the prediction (checked after writing: a larger file is a bug).
 */
public final class BudgetJob {
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String PROXY = "H-weighted error tr((W-Q) H (W-Q)^T), H from the unquantized model";
    /** Calibration sequences the stacked probe runs (the first of --calib-samples). */
    public static final int PROBE_SEQUENCES = 8;

    /** What the allocator minimises (--sensitivity). */
    public enum Proxy {
        /** the sum over layers of each layer's H-weighted error on the unquantized model's inputs */
        H_ERROR("h-error"),
        /** the sum over layers of each layer's stacked effect alone ({@link StackedProbe}) */
        STACKED("stacked");

        public final String cli;

        Proxy(String cli) {
            this.cli = cli;
        }

        public static Proxy parse(String s) {
            for (Proxy p : values()) {
                if (p.cli.equals(s)) {
                    return p;
                }
            }
            throw new InputException("--sensitivity: must be h-error or stacked, got '" + s + "'");
        }
    }

    private BudgetJob() {
    }

    /** The job's result, the plan's record and the true-bits bytes measured on the files. */
    public record Result(QuantizeJob.Result job, ObjectNode plan, long measuredBytes, double measuredBitsPerWeight) {
    }

    /**
     * The candidates that can quantize every linear layer of this model (--candidates' default
     * ladder is filtered with it; a list the user gave must pass whole, {@link #run} checks).
     */
    public static List<Candidate> usable(List<Candidate> candidates, LlamaConfig c) {
        List<Candidate> ok = new ArrayList<>();
        for (Candidate cand : candidates) {
            try {
                QuantizeJob.validate(cand.spec(), c);
                ok.add(cand);
            } catch (InputException e) {
                // not for this model's shapes
            }
        }
        return ok;
    }

    /**
     * The checks every list of candidates passes (1..127 of them, no shared codebooks, one
     * damping), whatever the model; returns the first candidate's spec (the run's damping).
     */
    public static QuantSpec checkCandidates(List<Candidate> candidates) {
        if (candidates.isEmpty() || candidates.size() > 127) {
            throw new InputException("--candidates: 1..127 configurations, got " + candidates.size());
        }
        QuantSpec first = candidates.getFirst().spec();
        for (Candidate cand : candidates) {
            if (cand.spec().sharesCodebooks()) {
                throw new InputException("--candidates: '" + cand.name() + "' shares codebooks, which a per-layer"
                        + " choice cannot");
            }
            if (cand.spec().percdamp() != first.percdamp()) {
                throw new InputException("--candidates: '" + cand.name() + "' has --percdamp " + cand.spec().percdamp()
                        + ", the first " + first.percdamp() + "; one calibration needs one damping");
            }
        }
        return first;
    }

    /** @param o the run's options; its spec is ignored (each candidate's is used; they must share one damping) */
    public static Result run(SourceModel source, QuantizeJob.Options o, double targetBpw, List<Candidate> candidates,
                             Backend backend, QuantizeJob.Listener listener) {
        return run(source, o, targetBpw, candidates, backend, listener, Proxy.STACKED);
    }

    /** As {@link #run}, minimising {@code proxy}. */
    public static Result run(SourceModel source, QuantizeJob.Options o, double targetBpw, List<Candidate> candidates,
                             Backend backend, QuantizeJob.Listener listener, Proxy proxy) {
        return run(source, o, targetBpw, candidates, backend, listener, Proxy.STACKED, new HashMap<>(), o.seed());
    }

    /**
     * As {@link #run}, the measuring pass made with {@code measureSeed} and kept in
     * {@code measured} (by {@link #cacheKey}) for the next run that shares the map: a sweep's
     * budget rows, every seed of them, share one measurement made with the sweep's first seed
     * (so a resumed sweep gives the same choice); only the final quantization follows each
     * run's own seed. The caller keeps the calibration, model and damping the same for one map.
     */
    public static Result run(SourceModel source, QuantizeJob.Options o, double targetBpw, List<Candidate> candidates,
                             Backend backend, QuantizeJob.Listener listener, Proxy proxy,
                             Map<String, List<Sensitivity.Layer>> measured, long measureSeed) {
        LlamaConfig c = source.config();
        if (!(targetBpw > 0) || Double.isInfinite(targetBpw)) {
            throw new InputException("--target-bpw: must be a positive number of bits per weight, got " + targetBpw);
        }
        QuantSpec first = checkCandidates(candidates);
        for (Candidate cand : candidates) {
            try {
                QuantizeJob.validate(cand.spec(), c);
            } catch (InputException e) {
                throw new InputException("--candidates: '" + cand.name() + "': " + e.getMessage());
            }
        }
        QuantizeJob.Options opts = new QuantizeJob.Options(o.model(), o.calib(), o.tokenizer(), first, o.calibSamples(),
                o.calibLen(), o.seed(), o.out());
        int len = o.calibLen() > 0 ? o.calibLen() : Math.min(512, c.maxSeqLen());
        if (o.calibSamples() < 1) {
            throw new InputException("--calib-samples: must be at least 1, got " + o.calibSamples());
        }
        if (len < 2 || len > c.maxSeqLen()) {
            throw new InputException("--calib-len: must be 2.." + c.maxSeqLen()
                    + " (the model's max sequence length), got " + len);
        }
        ObjectNode record = QuantizeJob.recordedPlan(o.out());
        if (record != null && sameRequest(record, targetBpw, candidates, proxy)) {
            listener.info("using the per-layer choice recorded in " + o.out());
        } else {
            record = choose(source, opts, len, targetBpw, candidates, backend, listener, proxy, measured, measureSeed);
        }
        Map<String, QuantSpec> specs = new LinkedHashMap<>();
        for (JsonNode l : record.path("layers")) {
            specs.put(l.path("name").asText(), candidates.get(l.path("candidate").asInt()).spec());
        }
        QuantizeJob.Result r = QuantizeJob.run(source, opts, backend, listener, new LayerPlan(specs, record));
        PackedStats.Stats st = PackedStats.of(r.out());
        long onFiles = st.fileBytes() - st.unquantizedDataBytes();
        if (onFiles > record.path("budget_bytes").asLong()) {
            throw new IllegalStateException("the files hold " + onFiles + " true-bits bytes, over the budget of "
                    + record.path("budget_bytes").asLong() + " (predicted " + record.path("predicted_bytes").asLong() + ")");
        }
        if (onFiles != record.path("predicted_bytes").asLong()) {
            listener.info("the files hold " + onFiles + " bytes, the plan predicted "
                    + record.path("predicted_bytes").asLong());
        }
        return new Result(r, record, onFiles, st.trueBitsPerWeight());
    }

    private static boolean sameRequest(ObjectNode record, double targetBpw, List<Candidate> candidates, Proxy proxy) {
        if (!record.path("sensitivity").asText(Proxy.H_ERROR.cli).equals(proxy.cli)
                || record.path("target_bpw").asDouble() != targetBpw || record.path("candidates").size() != candidates.size()) {
            return false;
        }
        for (int j = 0; j < candidates.size(); j++) {
            if (!record.path("candidates").get(j).asText().equals(candidates.get(j).name())) {
                return false;
            }
        }
        return true;
    }

    /** The key of a measurement: the seed and the candidates' names. */
    public static String cacheKey(long seed, List<Candidate> candidates) {
        return seed + ":" + String.join(";", candidates.stream().map(Candidate::name).toList());
    }

    /** The measuring pass, the choice with its exact repair, and the plan's record. */
    static ObjectNode choose(SourceModel source, QuantizeJob.Options o, int len, double targetBpw,
                             List<Candidate> candidates, Backend backend, QuantizeJob.Listener listener, Proxy proxy,
                             Map<String, List<Sensitivity.Layer>> measured, long measureSeed) {
        int n = o.calibSamples();
        int[] tokens = CalibrationTokens.read(o.calib(), o.tokenizer(), n, len);
        String key = cacheKey(measureSeed, candidates);
        List<Sensitivity.Layer> layers = measured.get(key);
        if (layers != null) {
            listener.info("using this run's measurement of the " + candidates.size() + " candidates (seed "
                    + measureSeed + ")");
        } else {
            source.checkFinite();
            float[][] x = new float[n][];
            for (int s = 0; s < n; s++) {
                x[s] = source.embed(tokens, s * len, len);
            }
            listener.info("measuring " + candidates.size() + " candidates on every layer (one pass over the"
                    + " unquantized model)");
            long t0 = System.nanoTime();
            layers = Sensitivity.measure(new DecoderTarget(source, x, len, o.spec(), Map.of()), candidates, o.spec(),
                    backend, measureSeed);
            listener.info(String.format(Locale.ROOT, "measured in %.1fs", (System.nanoTime() - t0) / 1e9));
            measured.put(key, layers);
        }
        String text = PROXY;
        if (proxy == Proxy.STACKED) {
            int probeN = Math.min(n, PROBE_SEQUENCES);
            LlamaKlProbe probe = new LlamaKlProbe(ModelLoader.load(o.model(), null).checkpoint(), tokens, probeN, len);
            text = probe.description();
            List<Sensitivity.Layer> raw = layers;
            long t0 = System.nanoTime();
            layers = measured.computeIfAbsent(key + ":stacked", k -> Sensitivity.stacked(raw, probe));
            listener.info(String.format(Locale.ROOT, "measured the stacked effect of every candidate on every layer:"
                            + " %.1fs",
                    (System.nanoTime() - t0) / 1e9));
        }
        List<Sensitivity.Layer> chosen = layers;
        ObjectNode r = plan(chosen, targetBpw, candidates, pick -> fileBytes(source, chosen, pick), text);
        r.put("sensitivity", proxy.cli);
        return r;
    }

    /**
     * The choice under the budget, made exact on the files' bytes, as the plan's record.
     *
     * @param fileBytes the true-bits bytes of the files a choice (a candidate per layer) gives
     */
    public static ObjectNode plan(List<Sensitivity.Layer> layers, double targetBpw, List<Candidate> candidates,
                                  ToLongFunction<int[]> fileBytes, String proxy) {
        long weights = 0;
        long[][] bytes = new long[layers.size()][];
        double[][] loss = new double[layers.size()][];
        for (int i = 0; i < layers.size(); i++) {
            Sensitivity.Layer l = layers.get(i);
            weights += (long) l.rows() * l.cols();
            bytes[i] = l.bytes();
            loss[i] = l.loss();
        }
        long budget = BigDecimal.valueOf(targetBpw).multiply(BigDecimal.valueOf(weights))
                .divide(BigDecimal.valueOf(8), 0, RoundingMode.FLOOR).longValueExact();
        int[] cheapest = new int[layers.size()];
        long cheapestLayers = 0;
        for (int i = 0; i < layers.size(); i++) {
            for (int j = 1; j < bytes[i].length; j++) {
                if (bytes[i][j] < bytes[i][cheapest[i]]) {
                    cheapest[i] = j;
                }
            }
            cheapestLayers += bytes[i][cheapest[i]];
        }
        long cheapestFile = fileBytes.applyAsLong(cheapest);
        if (cheapestFile > budget) {
            throw new InputException(String.format(Locale.ROOT, "--target-bpw %s: below the cheapest candidate on every"
                            + " layer, which takes %.4f bits/weight with every byte counted; raise it or add a cheaper"
                            + " candidate", BigDecimal.valueOf(targetBpw).toPlainString(), cheapestFile * 8.0 / weights));
        }
        long layerBudget = budget - (cheapestFile - cheapestLayers);
        BitsAllocator.Choice choice;
        long file;
        int rounds = 0;
        while (true) {
            choice = BitsAllocator.allocate(bytes, loss, layerBudget);
            file = choice == null ? Long.MAX_VALUE : fileBytes.applyAsLong(choice.pick());
            if (choice == null || file <= budget) {
                break;
            }
            layerBudget -= file - budget; // the files' overhead grew with the choice: cut the layers' share
            if (++rounds > 64) {
                throw new IllegalStateException("the exact repair did not converge");
            }
        }
        if (choice == null) { // the cheapest choice fits, so the repair cannot end here; kept as a guard
            choice = new BitsAllocator.Choice(cheapest, cheapestLayers, 0);
            file = cheapestFile;
        }
        ObjectNode r = JSON.createObjectNode();
        r.put("target_bpw", targetBpw);
        ArrayNode cs = r.putArray("candidates");
        candidates.forEach(cand -> cs.add(cand.name()));
        r.put("proxy", proxy);
        r.put("quantized_weights", weights);
        r.put("budget_bytes", budget);
        r.put("predicted_bytes", file);
        r.put("predicted_true_bits_per_weight", file * 8.0 / weights);
        r.put("layer_bytes", choice.bytes());
        r.put("overhead_bytes", file - choice.bytes());
        r.put("predicted_loss", choice.loss());
        ArrayNode ls = r.putArray("layers");
        for (int i = 0; i < layers.size(); i++) {
            Sensitivity.Layer l = layers.get(i);
            int j = choice.pick()[i];
            ObjectNode lo = ls.addObject();
            lo.put("name", l.name());
            lo.put("weights", (long) l.rows() * l.cols());
            lo.put("candidate", j);
            lo.put("config", candidates.get(j).name());
            lo.put("bytes", l.bytes()[j]);
            lo.put("predicted_loss", l.loss()[j]);
            ArrayNode b = lo.putArray("bytes_per_candidate");
            ArrayNode e = lo.putArray("loss_per_candidate");
            for (int k = 0; k < candidates.size(); k++) {
                b.add(l.bytes()[k]);
                e.add(l.loss()[k]);
            }
        }
        return r;
    }

    /**
     * The true-bits bytes of the files a choice gives: the job's shards laid out (the same
     * tensors, layout records and order as its writer's, data not written), less the unquantized
     * tensors' data.
     */
    static long fileBytes(SourceModel source, List<Sensitivity.Layer> layers, int[] pick) {
        int blocks = source.config().nLayers();
        long total = 0;
        for (int b = 0; b <= blocks; b++) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            w.metadata("format", "pt");
            for (int i = 0; i < layers.size(); i++) {
                if (layers.get(i).block() == b) {
                    PackedLayers.write(layers.get(i).name(), layers.get(i).packed()[pick[i]], w);
                }
            }
            long quantized = w.dataBytes();
            if (b < blocks) {
                source.addBlockExtras(b, w);
            } else {
                source.addRest(w);
            }
            total += w.fileBytes() - (w.dataBytes() - quantized);
        }
        return total;
    }
}
