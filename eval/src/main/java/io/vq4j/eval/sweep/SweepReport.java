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
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

import static io.vq4j.eval.sweep.Sweep.fmt;

/**
 * What a sweep says: sweep.json (every number), sweep.md (the table, and how well each
 * per-tensor metric predicted the stacked ranking) and two plots.
 */
public final class SweepReport {
    public static final String JSON_FILE = "sweep.json";
    public static final String MD_FILE = "sweep.md";
    public static final String PLOT_BITS = "ppl-vs-bits.png";
    public static final String PLOT_COSINE = "cosine-vs-ppl.png";

    private SweepReport() {
    }

    /** A metric oriented so that larger means worse, to be ranked against the stacked ppl ratio. */
    record Predictor(String label, String key, boolean perTensor, ToDoubleFunction<Sweep.Result> worse) {
    }

    static final List<Predictor> PREDICTORS = List.of(
            new Predictor("per-tensor cosine, random inputs (1 - cos)", "cosine_random", true,
                    r -> 1 - r.meanCosineRandom()),
            new Predictor("per-tensor cosine, real activations (1 - cos)", "cosine_real", true,
                    r -> 1 - r.meanCosineReal()),
            new Predictor("weight SQNR (-dB)", "sqnr_db", true, r -> -r.meanSqnrDb()),
            new Predictor("weight MSE", "mse", true, Sweep.Result::meanMse),
            new Predictor("Hessian-weighted error (relative)", "rel_hessian_error", true,
                    Sweep.Result::meanRelHessianError),
            new Predictor("true bits/weight (fewer = worse)", "true_bits_per_weight", false,
                    r -> -r.trueBitsPerWeight()),
            new Predictor("KL to the fp model (stacked)", "mean_kl", false, Sweep.Result::meanKl));

    /** A configuration ranked differently by a metric and by the stacked ppl ratio. */
    public record Disagreement(String config, double metricRank, double pplRank) {
        public double gap() {
            return Math.abs(metricRank - pplRank);
        }
    }

    public record Correlation(String metric, String key, boolean perTensor, double rho, List<Disagreement> worst) {
    }

    /** Spearman ρ of every predictor against the ppl ratio, with the three largest rank gaps. */
    public static List<Correlation> correlations(List<Sweep.Result> rs) {
        return correlationsOf(Spread.groups(rs));
    }

    /** As {@link #correlations}, over configurations: each metric's mean over its seeds. */
    static List<Correlation> correlationsOf(List<Spread.Group> rs) {
        double[] ppl = rs.stream().mapToDouble(g -> g.of(Sweep.Result::pplRatio).mean()).toArray();
        List<Correlation> out = new ArrayList<>();
        for (Predictor p : PREDICTORS) {
            double[] v = rs.stream().mapToDouble(g -> g.of(p.worse()).mean()).toArray();
            boolean finite = Arrays.stream(v).allMatch(Double::isFinite)
                    && Arrays.stream(ppl).allMatch(x -> !Double.isNaN(x));
            if (!finite || rs.size() < 2) {
                out.add(new Correlation(p.label(), p.key(), p.perTensor(), Double.NaN, List.of()));
                continue;
            }
            double rho = Spearman.rho(v, ppl);
            double[] rv = Spearman.ranks(v);
            double[] rp = Spearman.ranks(ppl);
            List<Disagreement> d = new ArrayList<>();
            for (int i = 0; i < rs.size(); i++) {
                d.add(new Disagreement(rs.get(i).name(), rv[i], rp[i]));
            }
            // stable: equal gaps keep the sweep's order
            List<Disagreement> worst = d.stream().sorted(Comparator.comparingDouble(Disagreement::gap).reversed())
                    .filter(x -> x.gap() > 0).limit(3).toList();
            out.add(new Correlation(p.label(), p.key(), p.perTensor(), rho, worst));
        }
        return out;
    }

    /** The metrics summarised over seeds, by their sweep.json key. */
    static final Map<String, ToDoubleFunction<Sweep.Result>> SUMMARISED = summarised();

    private static Map<String, ToDoubleFunction<Sweep.Result>> summarised() {
        Map<String, ToDoubleFunction<Sweep.Result>> m = new LinkedHashMap<>();
        m.put("true_bits_per_weight", Sweep.Result::trueBitsPerWeight);
        m.put("ppl", Sweep.Result::ppl);
        m.put("ppl_ratio", Sweep.Result::pplRatio);
        m.put("mean_kl", Sweep.Result::meanKl);
        m.put("top1_agreement", Sweep.Result::top1Agreement);
        m.put("mean_cosine_random", Sweep.Result::meanCosineRandom);
        m.put("mean_cosine_real", Sweep.Result::meanCosineReal);
        m.put("mean_sqnr_db", Sweep.Result::meanSqnrDb);
        m.put("mean_mse", Sweep.Result::meanMse);
        m.put("mean_rel_hessian_error", Sweep.Result::meanRelHessianError);
        m.put("quantize_seconds", Sweep.Result::quantizeSeconds);
        return m;
    }

    /**
     * Writes sweep.json, sweep.md and the plots into dir (each under a temporary name first).
     * With several seeds per configuration, every metric is reported as mean, standard
     * deviation, minimum and maximum over the seeds, and the plots carry min–max error bars.
     */
    public static void write(Path dir, JsonNode settings, List<Sweep.Result> rs) {
        List<Spread.Group> groups = Spread.groups(rs);
        boolean seeds = groups.stream().anyMatch(g -> g.runs().size() > 1);
        List<Correlation> cs = correlationsOf(groups);
        ObjectNode root = Sweep.JSON.createObjectNode();
        root.set("settings", settings);
        if (!rs.isEmpty()) {
            root.put("reference_ppl", rs.getFirst().referencePpl());
        }
        ArrayNode configs = root.putArray("configs");
        if (seeds) {
            groups.forEach(g -> configs.add(groupJson(g)));
        } else {
            rs.forEach(r -> configs.add(Sweep.toJson(r)));
        }
        ArrayNode corr = root.putArray("spearman_vs_ppl_ratio");
        for (Correlation c : cs) {
            ObjectNode n = corr.addObject();
            n.put("metric", c.metric());
            n.put("key", c.key());
            n.put("per_tensor", c.perTensor());
            n.put("rho", c.rho());
            ArrayNode w = n.putArray("largest_disagreements");
            for (Disagreement d : c.worst()) {
                w.addObject().put("config", d.config()).put("metric_rank", d.metricRank()).put("ppl_rank", d.pplRank());
            }
        }
        try {
            AtomicFiles.writeString(dir.resolve(JSON_FILE),
                    Sweep.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n");
            if (seeds) {
                plotBitsSeeds(groups).write(dir.resolve(PLOT_BITS));
                plotCosineSeeds(groups).write(dir.resolve(PLOT_COSINE));
                AtomicFiles.writeString(dir.resolve(MD_FILE), markdownSeeds(settings, groups, cs));
            } else {
                plotBits(rs).write(dir.resolve(PLOT_BITS));
                plotCosine(rs).write(dir.resolve(PLOT_COSINE));
                AtomicFiles.writeString(dir.resolve(MD_FILE), markdown(settings, rs, cs));
            }
        } catch (IOException e) {
            throw InputException.at(dir, "cannot write the report: " + e.getMessage());
        }
    }

    static Plot plotBits(List<Sweep.Result> rs) {
        Plot p = new Plot("Stacked perplexity against true bits per weight", "true bits/weight (packed files)",
                "perplexity / fp perplexity (log)", false, true);
        for (Map.Entry<String, List<Sweep.Result>> e : byMethod(rs).entrySet()) {
            List<Sweep.Result> m = e.getValue();
            p.series(e.getKey(), m.stream().mapToDouble(Sweep.Result::trueBitsPerWeight).toArray(),
                    m.stream().mapToDouble(Sweep.Result::pplRatio).toArray(), true,
                    m.stream().map(r -> r.name().substring(r.method().length()).strip()).toArray(String[]::new));
        }
        p.horizontal(1, "unquantized model (ratio 1)");
        return p;
    }

    static Plot plotCosine(List<Sweep.Result> rs) {
        Plot p = new Plot("Per-tensor output cosine against stacked perplexity",
                "1 - mean per-tensor output cosine (log)", "perplexity / fp perplexity (log)", true, true);
        double[] ratio = rs.stream().mapToDouble(Sweep.Result::pplRatio).toArray();
        p.series("random Gaussian inputs", rs.stream().mapToDouble(r -> 1 - r.meanCosineRandom()).toArray(), ratio,
                false);
        p.series("real activations", rs.stream().mapToDouble(r -> 1 - r.meanCosineReal()).toArray(), ratio, false,
                rs.stream().map(Sweep.Result::name).toArray(String[]::new));
        p.horizontal(1, "unquantized model (ratio 1)");
        p.footnote("one point per configuration and input kind; labels on the real-activation points");
        return p;
    }

    private static Map<String, List<Sweep.Result>> byMethod(List<Sweep.Result> rs) {
        Map<String, List<Sweep.Result>> m = new LinkedHashMap<>();
        for (Sweep.Result r : rs) {
            m.computeIfAbsent(r.method(), k -> new ArrayList<>()).add(r);
        }
        return m;
    }

    /** A configuration over its seeds: every metric's spread, then each seed's own result. */
    static ObjectNode groupJson(Spread.Group g) {
        ObjectNode n = Sweep.JSON.createObjectNode();
        ObjectNode first = Sweep.toJson(g.first());
        n.put("name", g.name());
        n.put("slug", g.slug());
        n.put("method", g.method());
        n.set("options", first.get("options"));
        n.set("arguments", first.get("arguments"));
        ArrayNode seeds = n.putArray("seeds");
        g.runs().forEach(r -> seeds.add(r.seed()));
        n.put("seed_free", Sweep.seedFree(g.method()));
        ObjectNode stats = n.putObject("stats");
        SUMMARISED.forEach((key, f) -> {
            Spread sp = g.of(f);
            stats.putObject(key).put("mean", sp.mean()).put("sd", sp.sd()).put("min", sp.min()).put("max", sp.max());
        });
        ArrayNode runs = n.putArray("runs");
        g.runs().forEach(r -> runs.add(Sweep.toJson(r)));
        return n;
    }

    static Plot plotBitsSeeds(List<Spread.Group> gs) {
        Plot p = new Plot("Stacked perplexity against true bits per weight", "true bits/weight (packed files)",
                "perplexity / fp perplexity (log)", false, true);
        Map<String, List<Spread.Group>> by = new LinkedHashMap<>();
        for (Spread.Group g : gs) {
            by.computeIfAbsent(g.method(), k -> new ArrayList<>()).add(g);
        }
        for (Map.Entry<String, List<Spread.Group>> e : by.entrySet()) {
            List<Spread.Group> m = e.getValue();
            List<Spread> ratio = m.stream().map(g -> g.of(Sweep.Result::pplRatio)).toList();
            p.series(e.getKey(), m.stream().mapToDouble(g -> g.of(Sweep.Result::trueBitsPerWeight).mean()).toArray(),
                    ratio.stream().mapToDouble(Spread::mean).toArray(),
                    ratio.stream().mapToDouble(Spread::min).toArray(),
                    ratio.stream().mapToDouble(Spread::max).toArray(), true,
                    m.stream().map(g -> g.name().substring(g.method().length()).strip()).toArray(String[]::new));
        }
        p.horizontal(1, "unquantized model (ratio 1)");
        p.footnote("markers: mean over seeds; bars: minimum to maximum over seeds");
        return p;
    }

    static Plot plotCosineSeeds(List<Spread.Group> gs) {
        Plot p = new Plot("Per-tensor output cosine against stacked perplexity",
                "1 - mean per-tensor output cosine (log)", "perplexity / fp perplexity (log)", true, true);
        List<Spread> ratio = gs.stream().map(g -> g.of(Sweep.Result::pplRatio)).toList();
        double[] mean = ratio.stream().mapToDouble(Spread::mean).toArray();
        double[] lo = ratio.stream().mapToDouble(Spread::min).toArray();
        double[] hi = ratio.stream().mapToDouble(Spread::max).toArray();
        p.series("random Gaussian inputs", gs.stream().mapToDouble(g -> 1 - g.of(Sweep.Result::meanCosineRandom)
                .mean()).toArray(), mean, lo, hi, false, null);
        p.series("real activations", gs.stream().mapToDouble(g -> 1 - g.of(Sweep.Result::meanCosineReal).mean())
                .toArray(), mean, lo, hi, false, gs.stream().map(Spread.Group::name).toArray(String[]::new));
        p.horizontal(1, "unquantized model (ratio 1)");
        p.footnote("one point per configuration and input kind (means over seeds; bars: min to max of the ppl ratio)");
        return p;
    }

    /**
     * The ranking by mean perplexity ratio, each neighbour pair marked as separated (every seed
     * of one below every seed of the other) or within the seeds' spread: an ordering is stated
     * only where it exceeds the spread.
     */
    static List<String> orderings(List<Spread.Group> gs) {
        List<Spread.Group> sorted = new ArrayList<>(gs);
        sorted.sort(Comparator.comparingDouble(g -> g.of(Sweep.Result::pplRatio).mean()));
        List<String> out = new ArrayList<>();
        for (int i = 0; i + 1 < sorted.size(); i++) {
            Spread.Group a = sorted.get(i);
            Spread.Group b = sorted.get(i + 1);
            boolean apart = a.of(Sweep.Result::pplRatio).entirelyBelow(b.of(Sweep.Result::pplRatio));
            out.add(fmt("%s %s %s", a.name(), apart ? "<" : "~", b.name()));
        }
        return out;
    }

    static String markdownSeeds(JsonNode s, List<Spread.Group> gs, List<Correlation> cs) {
        int seeds = gs.stream().mapToInt(g -> g.runs().size()).max().orElse(0);
        StringBuilder b = new StringBuilder();
        b.append("# vq sweep\n\n");
        b.append("- Model: `").append(s.path("model").asText()).append("`\n");
        b.append(fmt("- Calibration: `%s`, %d sequences x %d tokens; %d seeds per configuration (%d to %d)%n",
                s.path("calib").asText(), s.path("calib_samples").asInt(), s.path("calib_len").asInt(), seeds,
                s.path("seed").asLong(), s.path("seed").asLong() + seeds - 1));
        b.append(fmt("- Evaluation: `%s`%s, %d tokens, windows of %d, on %s%n", s.path("text").asText(),
                s.path("text_bytes").asLong() > 0 ? fmt(" (first %d bytes)", s.path("text_bytes").asLong()) : "",
                s.path("text_tokens").asInt(), s.path("ctx").asInt(), s.path("device").asText()));
        b.append(fmt("- Per-tensor metrics: each quantized layer alone against the original, on %d Gaussian input"
                        + " rows (the same for every seed) and on the unquantized model's activations for the first"
                        + " %d calibration sequences; the table shows the mean over layers.%n",
                s.path("random_rows").asInt(), s.path("real_samples").asInt()));
        b.append("- Each cell is the mean over the seeds ± the sample standard deviation; *range* is the minimum"
                + " and maximum of the perplexity ratio over the seeds. *true bits/w*, *ratio vs fp*, *KL* and"
                + " *top-1* as in a one-seed sweep (see docs/RESULTS.md).\n");
        if (gs.stream().anyMatch(g -> Sweep.seedFree(g.method()))) {
            b.append("- *seed-free*: the method does not use the seed (it is never given one), so the sweep ran the"
                    + " configuration once and that result stands for every seed: its sd is 0 by construction.\n");
        }
        if (!gs.isEmpty()) {
            b.append(fmt("- Unquantized model: perplexity %.4f%n", gs.getFirst().first().referencePpl()));
        }
        b.append('\n');
        b.append("| config | seeds | true bits/w | ppl | ratio vs fp | range | KL | top-1 | per-tensor cosine (real) |\n");
        b.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Spread.Group g : gs) {
            Spread ratio = g.of(Sweep.Result::pplRatio);
            b.append(fmt("| %s | %s | %.3f | %s | %s | %.3f–%.3f | %s | %s | %s |%n", g.name(), seedsCell(g.method(),
                            g.runs().size()),
                    g.of(Sweep.Result::trueBitsPerWeight).mean(), pm(g.of(Sweep.Result::ppl), "%.4f"),
                    pm(ratio, "%.3f"), ratio.min(), ratio.max(), pm(g.of(Sweep.Result::meanKl), "%.4f"),
                    pm(g.of(Sweep.Result::top1Agreement), "%.3f"), pm(g.of(Sweep.Result::meanCosineReal), "%.5f")));
        }
        b.append('\n');
        b.append("Plots: [stacked ppl ratio against true bits/weight, min–max over seeds](").append(PLOT_BITS)
                .append("), [per-tensor cosine against stacked ppl ratio](").append(PLOT_COSINE).append(").\n\n");
        b.append("## Orderings beyond the seeds' spread\n\n");
        b.append("Configurations by mean perplexity ratio, best first. `A < B`: every seed of A has a lower ratio"
                + " than every seed of B; `A ~ B`: their ranges overlap, so these seeds do not order them.\n\n");
        List<String> ord = orderings(gs);
        if (ord.isEmpty()) {
            b.append("(one configuration)\n");
        }
        ord.forEach(o -> b.append("- ").append(o).append('\n'));
        b.append('\n');
        b.append("## How well each metric predicted the stacked ranking\n\n");
        b.append(fmt("Spearman rank correlation between each metric's mean over seeds (oriented so that larger means"
                + " worse) and the mean stacked perplexity ratio, over the %d configurations above.%n%n", gs.size()));
        b.append("| metric | kind | Spearman rho |\n");
        b.append("|---|---|---:|\n");
        for (Correlation c : cs) {
            b.append(fmt("| %s | %s | %s |%n", c.metric(), c.perTensor() ? "per tensor" : "stacked / size",
                    Double.isNaN(c.rho()) ? "n/a" : fmt("%.3f", c.rho())));
        }
        return b.toString();
    }

    /** The seeds column: how many, and whether they were run at all ({@link Sweep#seedFree}). */
    static String seedsCell(String method, int seeds) {
        return seeds + (seeds > 1 && Sweep.seedFree(method) ? " (seed-free)" : "");
    }

    private static String pm(Spread s, String f) {
        return fmt(f + " ± " + f, s.mean(), s.sd());
    }

    static String markdown(JsonNode s, List<Sweep.Result> rs, List<Correlation> cs) {
        StringBuilder b = new StringBuilder();
        b.append("# vq sweep\n\n");
        b.append("- Model: `").append(s.path("model").asText()).append("`\n");
        b.append(fmt("- Calibration: `%s`, %d sequences x %d tokens, seed %d%n", s.path("calib").asText(),
                s.path("calib_samples").asInt(), s.path("calib_len").asInt(), s.path("seed").asLong()));
        b.append(fmt("- Evaluation: `%s`%s, %d tokens, windows of %d, on %s%n", s.path("text").asText(),
                s.path("text_bytes").asLong() > 0 ? fmt(" (first %d bytes)", s.path("text_bytes").asLong()) : "",
                s.path("text_tokens").asInt(), s.path("ctx").asInt(), s.path("device").asText()));
        b.append(fmt("- Per-tensor metrics: each quantized layer alone against the original, on %d Gaussian input"
                        + " rows and on the unquantized model's activations for the first %d calibration sequences;"
                        + " the table shows the mean over layers.%n", s.path("random_rows").asInt(),
                s.path("real_samples").asInt()));
        b.append("- *true bits/w*: every byte of the packed safetensors files except the data of unquantized"
                + " tensors (embedding, norms) x 8 / the quantized weights, as `vq inspect` counts it: codes,"
                + " codebooks, scales, headers and layout records are all charged to the quantized layers. *ratio vs fp*: perplexity / the unquantized model's on the same"
                + " windows. *KL*: mean KL(fp || quantized) of the next-token distributions, nats. *top-1*: the"
                + " fraction of positions where both models rank the same token first.\n");
        if (!rs.isEmpty()) {
            b.append(fmt("- Unquantized model: perplexity %.4f%n", rs.getFirst().referencePpl()));
        }
        b.append('\n');
        b.append("| config | true bits/w | ppl | ratio vs fp | KL | top-1 | per-tensor cosine (random) |"
                + " per-tensor cosine (real) | weight SQNR dB |\n");
        b.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Sweep.Result r : rs) {
            b.append(fmt("| %s | %.3f | %.4f | %.3f | %.4f | %.3f | %.5f | %.5f | %.2f |%n", r.name(),
                    r.trueBitsPerWeight(), r.ppl(), r.pplRatio(), r.meanKl(), r.top1Agreement(),
                    r.meanCosineRandom(), r.meanCosineReal(), r.meanSqnrDb()));
        }
        b.append('\n');
        b.append("Plots: [stacked ppl ratio against true bits/weight](").append(PLOT_BITS)
                .append("), [per-tensor cosine against stacked ppl ratio](").append(PLOT_COSINE).append(").\n\n");
        b.append("## How well each metric predicted the stacked ranking\n\n");
        b.append(fmt("Spearman rank correlation between each metric (oriented so that larger means worse) and the"
                + " stacked perplexity ratio, over the %d configurations above. rho = 1: the metric orders the"
                + " configurations exactly as stacked perplexity does; 0: no better than chance. Ranks are 1 = best;"
                + " the configurations listed are those whose rank by the metric is furthest from their rank by"
                + " stacked perplexity.%n%n", rs.size()));
        b.append("| metric | kind | Spearman rho | largest disagreements (rank by metric vs by ppl) |\n");
        b.append("|---|---|---:|---|\n");
        for (Correlation c : cs) {
            List<String> w = c.worst().stream().map(d -> fmt("%s (%s vs %s)", d.config(), rank(d.metricRank()),
                    rank(d.pplRank()))).toList();
            b.append(fmt("| %s | %s | %s | %s |%n", c.metric(), c.perTensor() ? "per tensor" : "stacked / size",
                    Double.isNaN(c.rho()) ? "n/a" : fmt("%.3f", c.rho()), w.isEmpty() ? "-" : String.join("; ", w)));
        }
        Correlation best = null;
        Correlation worst = null;
        for (Correlation c : cs) {
            if (!c.perTensor() || Double.isNaN(c.rho())) {
                continue;
            }
            if (best == null || c.rho() > best.rho()) {
                best = c;
            }
            if (worst == null || c.rho() < worst.rho()) {
                worst = c;
            }
        }
        if (best != null && best.rho() == worst.rho()) {
            b.append('\n');
            b.append(fmt("Every per-tensor metric ranked the configurations with the same rho (%.3f).%n", best.rho()));
        } else if (best != null) {
            b.append('\n');
            b.append(fmt("Of the per-tensor metrics, %s predicted the stacked ranking best (rho %.3f) and %s worst"
                    + " (rho %.3f).%n", best.metric(), best.rho(), worst.metric(), worst.rho()));
        }
        return b.toString();
    }

    private static String rank(double r) {
        return r == Math.rint(r) ? String.valueOf((long) r) : fmt("%.1f", r);
    }
}
