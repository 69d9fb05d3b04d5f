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

    /** Spearman rho of each predictor against the embedding error (NaN with fewer than 3 configurations). */
    public static Map<String, Double> correlations(List<EncoderSweep.Result> rs) {
        Map<String, Double> out = new LinkedHashMap<>();
        double[] err = rs.stream().mapToDouble(EncoderSweepReport::error).toArray();
        for (Predictor p : PREDICTORS) {
            double[] v = rs.stream().mapToDouble(p.worse()).toArray();
            out.put(p.label(), rs.size() < 3 ? Double.NaN : Spearman.rho(v, err));
        }
        return out;
    }

    public static void write(Path dir, JsonNode settings, List<EncoderSweep.Result> rs) {
        ObjectNode root = Sweep.JSON.createObjectNode();
        root.set("settings", settings);
        ArrayNode a = root.putArray("configs");
        rs.forEach(r -> a.add(EncoderSweep.toJson(r)));
        Map<String, Double> cs = correlations(rs);
        ObjectNode c = root.putObject("spearman_vs_embedding_error");
        cs.forEach(c::put);
        try {
            AtomicFiles.writeString(dir.resolve(SweepReport.JSON_FILE),
                    Sweep.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n");
            plotBits(rs).write(dir.resolve(PLOT_BITS));
            plotCosine(rs).write(dir.resolve(PLOT_COSINE));
            AtomicFiles.writeString(dir.resolve(SweepReport.MD_FILE), markdown(settings, rs, cs));
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
