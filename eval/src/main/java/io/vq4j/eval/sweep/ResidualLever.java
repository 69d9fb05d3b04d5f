package io.vq4j.eval.sweep;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;
import io.vq4j.eval.TextInput;
import io.vq4j.eval.metrics.ModelMetrics;
import io.vq4j.eval.plot.Plot;
import io.vq4j.kernels.Backend;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.LinearGroup;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.LlamaWeights;
import io.vq4j.quant.Methods;
import io.vq4j.quant.calib.CalibrationTokens;
import io.vq4j.quant.SourceModel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.vq4j.eval.sweep.Sweep.fmt;

/**
 * `vq experiment residual-lever`: after VQ, keep the worst sub-vectors (largest squared error
 * ‖w − ŵ‖², per layer) as fp16 originals, located by a bitmap of one bit per sub-vector, for a
 * range of budgets; against simply using a larger codebook at the same total bits.
 *
 * <p>Cost of the lever, per layer: ⌈vectors / 8⌉ bytes of bitmap plus 2·d bytes per kept
 * sub-vector, added to the base configuration's true bits (counted on its packed files); the
 * cost with the other locator, a list of the kept sub-vectors' indices, is reported beside it. The
 * packed format has no such sparse overrides yet, so these bytes are counted as that format
 * would need them and the model is evaluated from the weights it would decode (the base's
 * dequantized weights with the kept sub-vectors replaced by their fp16 values).
 */
public final class ResidualLever {
    private ResidualLever() {
    }

    /** One budget of the lever. */
    public record Point(double budgetPercent, long kept, long vectors, double trueBitsPerWeight,
                        double extraBitsPerWeight, double trueBitsIndexList, double ppl, double referencePpl, double meanKl,
                        double top1Agreement, double meanCosineReal, double meanCosineRandom, double meanSqnrDb) {
        public double pplRatio() {
            return ppl / referencePpl;
        }
    }

    public record Report(Sweep.Result base, List<Sweep.Result> codebooks, List<Point> lever) {
    }

    public static Report run(SourceModel source, LlamaModel reference, SweepSpec.Config base,
                             List<SweepSpec.Config> larger, double[] budgets, Sweep.Options o, Backend quantizeOn,
                             Sweep.Listener listener) {
        if (base.spec().options().method().vectorAxis() != Axis.IN) {
            throw new InputException("--base: the lever keeps input-axis sub-vectors of "
                    + Methods.listed(m -> m.vectorAxis() == Axis.IN) + ", got " + base.method());
        }
        for (double b : budgets) {
            if (!(b > 0 && b < 100)) {
                throw new InputException("--budgets: percentages in (0, 100), got " + b);
            }
        }
        List<SweepSpec.Config> all = new ArrayList<>();
        all.add(base);
        for (SweepSpec.Config c : larger) {
            if (!c.slug().equals(base.slug())) {
                all.add(c);
            }
        }
        List<Sweep.Result> rs = Sweep.run(source, reference, all, o, quantizeOn, null, listener);
        Sweep.Result b0 = rs.getFirst();
        LlamaConfig c = source.config();
        int len = Sweep.calibLen(o, c);
        int ctx = Sweep.ctx(o, c);
        Path out = o.out().toAbsolutePath().normalize();
        LlamaCheckpoint dq = HfCheckpoints.read(out.resolve("runs").resolve(b0.slug()).resolve("model"));
        int[] ids = TextInput.tokens(o.text(), o.textBytes(), o.tokenizer());
        int[] realTokens = CalibrationTokens.read(o.calib(), o.tokenizer(), o.realSamples(), len);
        int d = base.spec().vector().dim();
        List<Point> points = new ArrayList<>();
        for (double budget : budgets) {
            Path file = out.resolve("lever").resolve(fmt("budget-%s.json", trim(budget)));
            if (Files.isRegularFile(file)) {
                points.add(read(file));
                listener.info(fmt("lever %s%%: done before", trim(budget)));
                continue;
            }
            listener.info(fmt("lever %s%%: keeping the worst sub-vectors of every layer in fp16", trim(budget)));
            long[] counts = new long[4]; // kept, vectors, bytes with a bitmap, bytes with an index list
            LlamaCheckpoint lever = withOutliers(source, dq, d, budget, counts);
            List<Sweep.LayerResult> layers = Sweep.perTensor(source, lever, Map.of(), realTokens, o.realSamples(), len,
                    o.randomRows(), o.seed());
            ModelMetrics.Result m = ModelMetrics.compare(reference, LlamaModel.of(lever), ids, ctx);
            double extra = counts[2] * 8.0 / b0.weights();
            Point p = new Point(budget, counts[0], counts[1], b0.trueBitsPerWeight() + extra, extra,
                    b0.trueBitsPerWeight() + counts[3] * 8.0 / b0.weights(), m.quantizedPpl(),
                    m.referencePpl(), m.meanKl(), m.top1Agreement(),
                    layers.stream().mapToDouble(Sweep.LayerResult::cosineReal).average().orElse(Double.NaN),
                    layers.stream().mapToDouble(Sweep.LayerResult::cosineRandom).average().orElse(Double.NaN),
                    layers.stream().mapToDouble(Sweep.LayerResult::sqnrDb).average().orElse(Double.NaN));
            write(file, p);
            points.add(p);
            listener.info(fmt("lever %s%%: %.3f bpw  ppl %.4f (x%.3f)  KL %.4f", trim(budget), p.trueBitsPerWeight(),
                    p.ppl(), p.pplRatio(), p.meanKl()));
        }
        return new Report(b0, rs.subList(1, rs.size()), points);
    }

    /**
     * The dequantized checkpoint with, in every block linear, the budget% sub-vectors (d
     * consecutive columns of a row) of largest ‖w − ŵ‖² replaced by fp16(w). Ties: the lower
     * index first. counts: kept, vectors, lever bytes with a bitmap locator, and with an index
     * list locator (fp16 values included in both), summed over layers.
     */
    static LlamaCheckpoint withOutliers(SourceModel source, LlamaCheckpoint dq, int d, double budget, long[] counts) {
        List<LayerWeights> layers = new ArrayList<>();
        for (int b = 0; b < dq.weights().layers().size(); b++) {
            LayerWeights fp = source.block(b);
            LayerWeights q = dq.weights().layers().get(b);
            LayerWeights lw = q;
            for (LinearGroup group : LinearGroup.values()) {
                for (String linear : group.linears()) {
                    DenseLinear w = Sweep.dense(fp.linear(linear), linear);
                    DenseLinear wq = Sweep.dense(q.linear(linear), linear);
                    float[] kept = keepWorst(w.weight(), wq.weight(), d, budget, counts);
                    lw = lw.with(linear, new DenseLinear(kept, wq.bias(), wq.outFeatures(), wq.inFeatures()));
                }
            }
            layers.add(lw);
        }
        LlamaWeights w = dq.weights();
        return new LlamaCheckpoint(dq.config(), new LlamaWeights(w.tokenEmbedding(), layers, w.finalNorm(), w.lmHead()),
                dq.source() + " + fp16 outliers " + budget + "%");
    }

    static float[] keepWorst(float[] w, float[] q, int d, double budget, long[] counts) {
        int vectors = w.length / d;
        double[] err = new double[vectors];
        for (int v = 0; v < vectors; v++) {
            double s = 0;
            for (int j = 0; j < d; j++) {
                double e = (double) w[v * d + j] - q[v * d + j];
                s += e * e;
            }
            err[v] = s;
        }
        int keep = (int) Math.round(vectors * budget / 100);
        Integer[] order = new Integer[vectors];
        for (int i = 0; i < vectors; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> err[a] != err[b] ? Double.compare(err[b], err[a]) : Integer.compare(a, b));
        float[] out = q.clone();
        for (int k = 0; k < keep; k++) {
            int v = order[k];
            for (int j = 0; j < d; j++) {
                out[v * d + j] = Float.float16ToFloat(Float.floatToFloat16(w[v * d + j]));
            }
        }
        counts[0] += keep;
        counts[1] += vectors;
        counts[2] += (vectors + 7) / 8 + 2L * d * keep;
        // the other locator: the kept sub-vectors' indices, ceil(log2(vectors)) bits each
        int indexBits = Math.max(1, 64 - Long.numberOfLeadingZeros(vectors - 1L));
        counts[3] += ((long) keep * indexBits + 7) / 8 + 2L * d * keep;
        return out;
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    /**
     * log(ppl ratio) of the larger-codebook curve at bits x, linear between its neighbours;
     * NaN outside the curve.
     */
    static double interpolate(List<Sweep.Result> curve, double x) {
        List<Sweep.Result> s = curve.stream().sorted(Comparator.comparingDouble(Sweep.Result::trueBitsPerWeight))
                .toList();
        for (int i = 0; i + 1 < s.size(); i++) {
            double x0 = s.get(i).trueBitsPerWeight();
            double x1 = s.get(i + 1).trueBitsPerWeight();
            if (x >= x0 && x <= x1 && x1 > x0) {
                double t = (x - x0) / (x1 - x0);
                return Math.exp((1 - t) * Math.log(s.get(i).pplRatio()) + t * Math.log(s.get(i + 1).pplRatio()));
            }
        }
        return Double.NaN;
    }

    /** residual-lever.json, residual-lever.md and residual-lever.png in dir. */
    public static void write(Path dir, Report r) {
        List<Sweep.Result> curve = new ArrayList<>();
        curve.add(r.base());
        curve.addAll(r.codebooks());
        ObjectNode root = Sweep.JSON.createObjectNode();
        root.set("base", Sweep.toJson(r.base()));
        ArrayNode cb = root.putArray("larger_codebooks");
        r.codebooks().forEach(x -> cb.add(Sweep.toJson(x)));
        ArrayNode lv = root.putArray("lever");
        for (Point p : r.lever()) {
            ObjectNode n = toJson(p);
            n.put("larger_codebook_ppl_ratio_at_same_bits", interpolate(curve, p.trueBitsPerWeight()));
            lv.add(n);
        }
        StringBuilder b = new StringBuilder();
        b.append("# The residual lever: fp16 outliers against a larger codebook\n\n");
        b.append(fmt("Base: `%s` (true %.3f bits/weight, ppl %.4f, x%.3f the unquantized %.4f). The lever keeps, in"
                        + " every quantized layer, the given share of sub-vectors (d consecutive weights of a row) with"
                        + " the largest squared error as fp16 originals, located by one bitmap bit per sub-vector."
                        + " Its bytes (bitmap + 2 d bytes per kept sub-vector) are added to the base's true bits; the"
                        + " packed format has no sparse overrides yet, so they are counted as such a format would"
                        + " store them, and the model is evaluated from the weights it would decode.%n%n",
                r.base().name(), r.base().trueBitsPerWeight(), r.base().ppl(), r.base().pplRatio(),
                r.base().referencePpl()));
        b.append("| configuration | true bits/w (bitmap) | true bits/w (index list) | ppl | ratio vs fp | KL | top-1 |"
                + " per-tensor cosine (real) | larger codebook at the same bits (bitmap / index list): ratio |\n");
        b.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Sweep.Result x : curve) {
            b.append(fmt("| %s | %.3f | %.3f | %.4f | %.3f | %.4f | %.3f | %.5f | - |%n", x.name(), x.trueBitsPerWeight(),
                    x.trueBitsPerWeight(), x.ppl(), x.pplRatio(), x.meanKl(), x.top1Agreement(), x.meanCosineReal()));
        }
        for (Point p : r.lever()) {
            double at = interpolate(curve, p.trueBitsPerWeight());
            double atIdx = interpolate(curve, p.trueBitsIndexList());
            b.append(fmt("| base + %s%% fp16 sub-vectors (%d of %d) | %.3f | %.3f | %.4f | %.3f | %.4f | %.3f | %.5f |"
                            + " %s / %s |%n", trim(p.budgetPercent()), p.kept(), p.vectors(), p.trueBitsPerWeight(),
                    p.trueBitsIndexList(), p.ppl(), p.pplRatio(), p.meanKl(), p.top1Agreement(), p.meanCosineReal(),
                    Double.isNaN(at) ? "outside" : fmt("%.3f", at), Double.isNaN(atIdx) ? "outside" : fmt("%.3f", atIdx)));
        }
        b.append('\n');
        for (boolean bitmap : new boolean[]{true, false}) {
            int better = 0;
            int worse = 0;
            int outside = 0;
            for (Point p : r.lever()) {
                double at = interpolate(curve, bitmap ? p.trueBitsPerWeight() : p.trueBitsIndexList());
                if (Double.isNaN(at)) {
                    outside++;
                } else if (p.pplRatio() < at) {
                    better++;
                } else {
                    worse++;
                }
            }
            b.append(fmt("With %s, at the same true bits (the larger-codebook curve interpolated log-linearly between"
                    + " its points), the lever gave the lower perplexity at %d budget(s) and the larger codebook at"
                    + " %d; %d budget(s) fell outside the codebook curve.%n%n", bitmap ? "a bitmap locator (1 bit"
                    + " per sub-vector)" : "an index-list locator (ceil(log2 vectors) bits per kept sub-vector)",
                    better, worse, outside));
        }
        b.append("![ppl ratio against true bits/weight](residual-lever.png)\n");

        Plot plot = new Plot("The residual lever against a larger codebook", "true bits/weight",
                "perplexity / fp perplexity (log)", false, true);
        plot.series("larger codebook", curve.stream().mapToDouble(Sweep.Result::trueBitsPerWeight).toArray(),
                curve.stream().mapToDouble(Sweep.Result::pplRatio).toArray(), true,
                curve.stream().map(x -> x.name().substring(x.method().length()).strip()).toArray(String[]::new));
        plot.series("base + fp16 outliers, bitmap", r.lever().stream().mapToDouble(Point::trueBitsPerWeight).toArray(),
                r.lever().stream().mapToDouble(Point::pplRatio).toArray(), true,
                r.lever().stream().map(p -> trim(p.budgetPercent()) + "%").toArray(String[]::new));
        plot.series("base + fp16 outliers, index list", r.lever().stream().mapToDouble(Point::trueBitsIndexList).toArray(),
                r.lever().stream().mapToDouble(Point::pplRatio).toArray(), true);
        plot.horizontal(1, "unquantized model (ratio 1)");
        try {
            AtomicFiles.writeString(dir.resolve("residual-lever.json"),
                    Sweep.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n");
            plot.write(dir.resolve("residual-lever.png"));
            AtomicFiles.writeString(dir.resolve("residual-lever.md"), b.toString());
        } catch (IOException e) {
            throw InputException.at(dir, "cannot write the report: " + e.getMessage());
        }
    }

    private static ObjectNode toJson(Point p) {
        ObjectNode n = Sweep.JSON.createObjectNode();
        n.put("budget_percent", p.budgetPercent());
        n.put("kept", p.kept());
        n.put("vectors", p.vectors());
        n.put("true_bits_per_weight", p.trueBitsPerWeight());
        n.put("extra_bits_per_weight", p.extraBitsPerWeight());
        n.put("true_bits_per_weight_index_list", p.trueBitsIndexList());
        n.put("ppl", p.ppl());
        n.put("reference_ppl", p.referencePpl());
        n.put("ppl_ratio", p.pplRatio());
        n.put("mean_kl", p.meanKl());
        n.put("top1_agreement", p.top1Agreement());
        n.put("mean_cosine_real", p.meanCosineReal());
        n.put("mean_cosine_random", p.meanCosineRandom());
        n.put("mean_sqnr_db", p.meanSqnrDb());
        return n;
    }

    private static void write(Path file, Point p) {
        try {
            AtomicFiles.writeString(file, Sweep.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson(p)) + "\n");
        } catch (IOException e) {
            throw InputException.at(file, "cannot write: " + e.getMessage());
        }
    }

    private static Point read(Path file) {
        try {
            JsonNode n = Sweep.JSON.readTree(file.toFile());
            return new Point(n.path("budget_percent").asDouble(), n.path("kept").asLong(), n.path("vectors").asLong(),
                    n.path("true_bits_per_weight").asDouble(), n.path("extra_bits_per_weight").asDouble(),
                    n.path("true_bits_per_weight_index_list").asDouble(), n.path("ppl").asDouble(), n.path("reference_ppl").asDouble(), n.path("mean_kl").asDouble(),
                    n.path("top1_agreement").asDouble(), n.path("mean_cosine_real").asDouble(),
                    n.path("mean_cosine_random").asDouble(), n.path("mean_sqnr_db").asDouble());
        } catch (IOException e) {
            throw InputException.at(file, "cannot read: " + e.getMessage() + "; delete it to compute that budget again");
        }
    }
}
