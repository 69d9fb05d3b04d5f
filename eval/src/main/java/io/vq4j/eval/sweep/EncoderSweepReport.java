package io.vq4j.eval.sweep;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;
import io.vq4j.eval.metrics.Spearman;
import io.vq4j.eval.plot.Plot;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The report of an encoder sweep: sweep.json, sweep.md (a table; how well each per-tensor
 * metric predicted the ranking by sentence-embedding cosine), and two plots (embedding error
 * against true bits/weight; per-tensor cosine against embedding error). The stacked measure is
 * 1 − the mean cosine between the quantized and the fp32 model's embeddings of the evaluation
 * sentences ("embedding error"; larger = worse).
 */
public final class EncoderSweepReport {
    public static final String PLOT_BITS = "embedding-error-vs-bits.png";
    public static final String PLOT_COSINE = "cosine-vs-embedding-error.png";

    private EncoderSweepReport() {
    }

    record Predictor(String label, ToDoubleFunction<EncoderSweep.Result> worse) {
    }

    static final List<Predictor> PREDICTORS = List.of(
            new Predictor("per-tensor cosine, random inputs (1 - cos)", r -> 1 - r.meanCosineRandom()),
            new Predictor("per-tensor cosine, real activations (1 - cos)", r -> 1 - r.meanCosineReal()),
            new Predictor("weight SQNR (-dB)", r -> -r.meanSqnrDb()),
            new Predictor("weight MSE", EncoderSweep.Result::meanMse),
            new Predictor("Hessian-weighted error (relative)", EncoderSweep.Result::meanRelHessianError),
            new Predictor("true bits/weight (fewer = worse)", r -> -r.trueBitsPerWeight()));

    /** Embedding error: 1 − mean cosine to the fp32 embeddings. */
    static double error(EncoderSweep.Result r) {
        return 1 - r.meanCosine();
    }

    /**
     * Spearman rho of each predictor against the embedding error (NaN with fewer than 3
     * configurations); with several seeds per configuration, of the means over seeds.
     */
    public static Map<String, Double> correlations(List<EncoderSweep.Result> rs) {
        List<List<EncoderSweep.Result>> gs = Spread.bySlug(rs, EncoderSweep.Result::slug);
        Map<String, Double> out = new LinkedHashMap<>();
        double[] err = gs.stream().mapToDouble(g -> Spread.of(g, EncoderSweepReport::error).mean()).toArray();
        for (Predictor p : PREDICTORS) {
            double[] v = gs.stream().mapToDouble(g -> Spread.of(g, p.worse()).mean()).toArray();
            out.put(p.label(), gs.size() < 3 ? Double.NaN : Spearman.rho(v, err));
        }
        return out;
    }

    /** The metrics summarised over seeds, by their sweep.json key. */
    static final Map<String, ToDoubleFunction<EncoderSweep.Result>> SUMMARISED = summarised();

    private static Map<String, ToDoubleFunction<EncoderSweep.Result>> summarised() {
        Map<String, ToDoubleFunction<EncoderSweep.Result>> m = new LinkedHashMap<>();
        m.put("true_bits_per_weight", EncoderSweep.Result::trueBitsPerWeight);
        m.put("embedding_cosine_mean", EncoderSweep.Result::meanCosine);
        m.put("embedding_cosine_p05", EncoderSweep.Result::p05Cosine);
        m.put("embedding_cosine_min", EncoderSweep.Result::minCosine);
        m.put("mean_cosine_random", EncoderSweep.Result::meanCosineRandom);
        m.put("mean_cosine_real", EncoderSweep.Result::meanCosineReal);
        m.put("mean_sqnr_db", EncoderSweep.Result::meanSqnrDb);
        m.put("mean_mse", EncoderSweep.Result::meanMse);
        m.put("mean_rel_hessian_error", EncoderSweep.Result::meanRelHessianError);
        m.put("quantize_seconds", EncoderSweep.Result::quantizeSeconds);
        return m;
    }

    /**
     * Writes sweep.json, sweep.md and the plots; with several seeds per configuration every metric
     * as mean, sd, min and max over the seeds, and min–max error bars in the plots.
     */
    public static void write(Path dir, JsonNode settings, List<EncoderSweep.Result> rs) {
        List<List<EncoderSweep.Result>> gs = Spread.bySlug(rs, EncoderSweep.Result::slug);
        boolean seeds = gs.stream().anyMatch(g -> g.size() > 1);
        ObjectNode root = Sweep.JSON.createObjectNode();
        root.set("settings", settings);
        ArrayNode a = root.putArray("configs");
        if (seeds) {
            gs.forEach(g -> a.add(groupJson(g)));
        } else {
            rs.forEach(r -> a.add(EncoderSweep.toJson(r)));
        }
        Map<String, Double> cs = correlations(rs);
        ObjectNode c = root.putObject("spearman_vs_embedding_error");
        cs.forEach(c::put);
        try {
            AtomicFiles.writeString(dir.resolve(SweepReport.JSON_FILE),
                    Sweep.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n");
            if (seeds) {
                plotBitsSeeds(gs).write(dir.resolve(PLOT_BITS));
                plotCosine(means(gs)).write(dir.resolve(PLOT_COSINE));
                AtomicFiles.writeString(dir.resolve(SweepReport.MD_FILE), markdownSeeds(settings, gs, cs));
            } else {
                plotBits(rs).write(dir.resolve(PLOT_BITS));
                plotCosine(rs).write(dir.resolve(PLOT_COSINE));
                AtomicFiles.writeString(dir.resolve(SweepReport.MD_FILE), markdown(settings, rs, cs));
            }
        } catch (IOException e) {
            throw InputException.at(dir, "cannot write the report: " + e.getMessage());
        }
    }

    static Plot plotBits(List<EncoderSweep.Result> rs) {
        Plot p = new Plot("Sentence-embedding error against true bits per weight", "true bits/weight (packed file)",
                "1 - mean embedding cosine to fp32 (log)", false, true);
        Map<String, List<EncoderSweep.Result>> by = new LinkedHashMap<>();
        for (EncoderSweep.Result r : rs) {
            by.computeIfAbsent(r.method(), k -> new ArrayList<>()).add(r);
        }
        for (Map.Entry<String, List<EncoderSweep.Result>> e : by.entrySet()) {
            List<EncoderSweep.Result> m = new ArrayList<>(e.getValue());
            m.sort(Comparator.comparingDouble(EncoderSweep.Result::trueBitsPerWeight));
            p.series(e.getKey(), m.stream().mapToDouble(EncoderSweep.Result::trueBitsPerWeight).toArray(),
                    m.stream().mapToDouble(EncoderSweepReport::error).toArray(), true,
                    m.stream().map(r -> r.name().substring(r.method().length()).strip()).toArray(String[]::new));
        }
        return p;
    }

    static Plot plotCosine(List<EncoderSweep.Result> rs) {
        Plot p = new Plot("Per-tensor output cosine against sentence-embedding error",
                "1 - mean per-tensor output cosine (log)", "1 - mean embedding cosine to fp32 (log)", true, true);
        double[] err = rs.stream().mapToDouble(EncoderSweepReport::error).toArray();
        p.series("random Gaussian inputs", rs.stream().mapToDouble(r -> 1 - r.meanCosineRandom()).toArray(), err,
                false);
        p.series("real activations", rs.stream().mapToDouble(r -> 1 - r.meanCosineReal()).toArray(), err, false,
                rs.stream().map(EncoderSweep.Result::name).toArray(String[]::new));
        p.footnote("one point per configuration and input kind; labels on the real-activation points");
        return p;
    }

    static ObjectNode groupJson(List<EncoderSweep.Result> g) {
        EncoderSweep.Result f = g.getFirst();
        ObjectNode n = Sweep.JSON.createObjectNode();
        ObjectNode first = EncoderSweep.toJson(f);
        n.put("name", f.name());
        n.put("slug", f.slug());
        n.put("method", f.method());
        n.set("options", first.get("options"));
        ArrayNode seeds = n.putArray("seeds");
        g.forEach(r -> seeds.add(r.seed()));
        n.put("seed_free", Sweep.seedFree(f.method()));
        ObjectNode stats = n.putObject("stats");
        SUMMARISED.forEach((key, m) -> {
            Spread sp = Spread.of(g, m);
            stats.putObject(key).put("mean", sp.mean()).put("sd", sp.sd()).put("min", sp.min()).put("max", sp.max());
        });
        ArrayNode runs = n.putArray("runs");
        g.forEach(r -> runs.add(EncoderSweep.toJson(r)));
        return n;
    }

    /** One result per configuration whose per-tensor cosines are those of its first seed (for the cosine plot). */
    private static List<EncoderSweep.Result> means(List<List<EncoderSweep.Result>> gs) {
        List<EncoderSweep.Result> out = new ArrayList<>();
        for (List<EncoderSweep.Result> g : gs) {
            EncoderSweep.Result f = g.getFirst();
            out.add(new EncoderSweep.Result(f.name(), f.slug(), f.method(), f.options(), f.nominalBitsPerWeight(),
                    Spread.of(g, EncoderSweep.Result::trueBitsPerWeight).mean(),
                    f.packedBytes(), f.weights(), Spread.of(g, EncoderSweep.Result::meanCosine).mean(),
                    Spread.of(g, EncoderSweep.Result::minCosine).mean(),
                    Spread.of(g, EncoderSweep.Result::p05Cosine).mean(), f.sentences(), 0, 0, f.layers(), f.seed()));
        }
        return out;
    }

    static Plot plotBitsSeeds(List<List<EncoderSweep.Result>> gs) {
        Plot p = new Plot("Sentence-embedding error against true bits per weight", "true bits/weight (packed file)",
                "1 - mean embedding cosine to fp32 (log)", false, true);
        Map<String, List<List<EncoderSweep.Result>>> by = new LinkedHashMap<>();
        for (List<EncoderSweep.Result> g : gs) {
            by.computeIfAbsent(g.getFirst().method(), k -> new ArrayList<>()).add(g);
        }
        for (Map.Entry<String, List<List<EncoderSweep.Result>>> e : by.entrySet()) {
            List<List<EncoderSweep.Result>> m = new ArrayList<>(e.getValue());
            m.sort(Comparator.comparingDouble(g -> Spread.of(g, EncoderSweep.Result::trueBitsPerWeight).mean()));
            List<Spread> err = m.stream().map(g -> Spread.of(g, EncoderSweepReport::error)).toList();
            p.series(e.getKey(), m.stream().mapToDouble(g -> Spread.of(g, EncoderSweep.Result::trueBitsPerWeight)
                            .mean()).toArray(), err.stream().mapToDouble(Spread::mean).toArray(),
                    err.stream().mapToDouble(Spread::min).toArray(), err.stream().mapToDouble(Spread::max).toArray(),
                    true, m.stream().map(g -> g.getFirst().name().substring(g.getFirst().method().length()).strip())
                            .toArray(String[]::new));
        }
        p.footnote("markers: mean over seeds; bars: minimum to maximum over seeds");
        return p;
    }

    static String markdownSeeds(JsonNode s, List<List<EncoderSweep.Result>> gs, Map<String, Double> cs) {
        int seeds = gs.stream().mapToInt(List::size).max().orElse(0);
        StringBuilder b = new StringBuilder();
        b.append("# vq sweep: sentence encoder\n\n");
        b.append("- Model: `").append(s.path("model").asText()).append("` (every linear layer of the encoder quantized;"
                + " word embeddings, LayerNorms and biases fp32)\n");
        b.append(String.format(Locale.ROOT, "- Calibration: the first %d sentences of `%s`, block-sequential; %d seeds"
                        + " per configuration (%d to %d)%n", s.path("calib_sentences").asInt(), s.path("calib").asText(),
                seeds, s.path("seed").asLong(), s.path("seed").asLong() + seeds - 1));
        b.append(String.format(Locale.ROOT, "- Evaluation: the first %d sentences of `%s`, each embedded (mean pooling,"
                + " unit length) by the quantized and the fp32 model%n", s.path("eval_sentences").asInt(),
                s.path("text").asText()));
        b.append("- Each cell is the mean over the seeds ± the sample standard deviation; *range* is the minimum and"
                + " maximum of the embedding error (1 - mean cosine) over the seeds.\n");
        if (gs.stream().anyMatch(g -> Sweep.seedFree(g.getFirst().method()))) {
            b.append("- *seed-free*: the method does not use the seed (it is never given one), so the sweep ran the"
                    + " configuration once and that result stands for every seed: its sd is 0 by construction.\n");
        }
        b.append('\n');
        b.append("| config | seeds | true bits/w | embedding cosine (mean) | embedding error range | p05 | min"
                + " | per-tensor cosine (real) |\n");
        b.append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (List<EncoderSweep.Result> g : gs) {
            Spread err = Spread.of(g, EncoderSweepReport::error);
            b.append(String.format(Locale.ROOT, "| %s | %s | %.3f | %s | %.3g–%.3g | %s | %s | %s |%n",
                    g.getFirst().name(), SweepReport.seedsCell(g.getFirst().method(), g.size()), Spread.of(g, EncoderSweep.Result::trueBitsPerWeight).mean(),
                    pm(Spread.of(g, EncoderSweep.Result::meanCosine), "%.6f"), err.min(), err.max(),
                    pm(Spread.of(g, EncoderSweep.Result::p05Cosine), "%.6f"),
                    pm(Spread.of(g, EncoderSweep.Result::minCosine), "%.6f"),
                    pm(Spread.of(g, EncoderSweep.Result::meanCosineReal), "%.5f")));
        }
        b.append("\nPlots: [embedding error against true bits/weight, min–max over seeds](").append(PLOT_BITS)
                .append("), [per-tensor cosine against embedding error](").append(PLOT_COSINE).append(").\n\n");
        b.append("## Orderings beyond the seeds' spread\n\n");
        b.append("Configurations by mean embedding error, best first. `A < B`: every seed of A has a lower error than"
                + " every seed of B; `A ~ B`: their ranges overlap, so these seeds do not order them.\n\n");
        List<List<EncoderSweep.Result>> sorted = new ArrayList<>(gs);
        sorted.sort(Comparator.comparingDouble(g -> Spread.of(g, EncoderSweepReport::error).mean()));
        for (int i = 0; i + 1 < sorted.size(); i++) {
            boolean apart = Spread.of(sorted.get(i), EncoderSweepReport::error)
                    .entirelyBelow(Spread.of(sorted.get(i + 1), EncoderSweepReport::error));
            b.append(String.format(Locale.ROOT, "- %s %s %s%n", sorted.get(i).getFirst().name(), apart ? "<" : "~",
                    sorted.get(i + 1).getFirst().name()));
        }
        b.append("\n## How well each metric predicted the stacked ranking\n\n");
        b.append("Spearman rank correlation between each metric's mean over seeds (oriented so that larger means"
                + " worse) and the mean embedding error, over the ").append(gs.size()).append(" configurations.\n\n");
        b.append("| metric | Spearman rho |\n|---|---:|\n");
        cs.forEach((k, v) -> b.append(String.format(Locale.ROOT, "| %s | %.3f |%n", k, v)));
        return b.toString();
    }

    private static String pm(Spread s, String f) {
        return String.format(Locale.ROOT, f + " ± " + f, s.mean(), s.sd());
    }

    static String markdown(JsonNode s, List<EncoderSweep.Result> rs, Map<String, Double> cs) {
        StringBuilder b = new StringBuilder();
        b.append("# vq sweep: sentence encoder\n\n");
        b.append("- Model: `").append(s.path("model").asText()).append("` (every linear layer of the encoder quantized;"
                + " word embeddings, LayerNorms and biases fp32)\n");
        b.append(String.format(Locale.ROOT, "- Calibration: the first %d sentences of `%s`, block-sequential, seed %d%n",
                s.path("calib_sentences").asInt(), s.path("calib").asText(), s.path("seed").asLong()));
        b.append(String.format(Locale.ROOT, "- Evaluation: the first %d sentences of `%s`, each embedded (mean pooling,"
                + " unit length) by the quantized and the fp32 model%n", s.path("eval_sentences").asInt(),
                s.path("text").asText()));
        b.append(String.format(Locale.ROOT, "- Per-tensor metrics: each layer alone against the original, on %d"
                + " Gaussian input rows and on the fp32 model's activations for the first %d calibration sentences;"
                + " the table shows the mean over layers.%n", s.path("random_rows").asInt(),
                s.path("real_samples").asInt()));
        b.append("- *true bits/w*: the packed layers' safetensors file (indices, codebooks, scales, header, layouts)"
                + " x 8 / the quantized weights. *embedding cosine*: between each sentence's quantized and fp32"
                + " embedding; mean, 5th percentile and minimum over the sentences.\n\n");
        b.append("| config | true bits/w | embedding cosine (mean) | p05 | min | per-tensor cosine (random)"
                + " | per-tensor cosine (real) | weight SQNR dB | rel. H-error |\n");
        b.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (EncoderSweep.Result r : rs) {
            b.append(String.format(Locale.ROOT, "| %s | %.3f | %.6f | %.6f | %.6f | %.5f | %.5f | %.2f | %.4g |%n",
                    r.name(), r.trueBitsPerWeight(), r.meanCosine(), r.p05Cosine(), r.minCosine(),
                    r.meanCosineRandom(), r.meanCosineReal(), r.meanSqnrDb(), r.meanRelHessianError()));
        }
        b.append("\nPlots: [embedding error against true bits/weight](").append(PLOT_BITS)
                .append("), [per-tensor cosine against embedding error](").append(PLOT_COSINE).append(").\n\n");
        b.append("## How well each metric predicted the stacked ranking\n\n");
        b.append("Spearman rank correlation between each metric (oriented so that larger means worse) and the"
                + " embedding error (1 - mean cosine), over the ").append(rs.size()).append(" configurations.\n\n");
        b.append("| metric | Spearman rho |\n|---|---:|\n");
        cs.forEach((k, v) -> b.append(String.format(Locale.ROOT, "| %s | %.3f |%n", k, v)));
        return b.toString();
    }
}
