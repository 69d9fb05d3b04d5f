package io.vq4j.quant.job;

import io.vq4j.core.InputException;
import io.vq4j.model.LinearGroup;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.ResidentBlock;
import io.vq4j.quant.gptq.GptqOptions;
import io.vq4j.quant.gptvq.GptvqOptions;
import io.vq4j.quant.method.MethodOptions;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.quant.method.VectorOptions;
import io.vq4j.quant.vptq.VptqOptions;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;

/**
 * The heap a quantize run needs at its peak, estimated before it starts, so that a run that
 * cannot fit is refused with one line instead of an OutOfMemoryError minutes or hours in. The
 * peak is the largest of these moments: reading the calibration text (the file's bytes and its
 * decoded string, about 3 bytes a byte, beside the tokens), and, for each group of linears that
 * share a Hessian (q/k/v, o, gate/up, down; {@link LinearGroup}), the moment its largest layer is
 * quantized or has its error reported. What is live then, read off the code (Calibration,
 * SharedFactors, each method):
 * <ul>
 *   <li>for the whole run: the calibration tokens and every sequence's activations (n × L × dim
 *       floats), one sequence's buffers inside the block (DecoderBlock.Buffers and its attention
 *       scores), while o_proj is calibrated every sequence's attention output (n × L × qDim
 *       floats, which the block forward keeps for the residual after o), while down_proj is
 *       calibrated the MLP's hidden activations where ResidentBlock keeps them for its last pass
 *       (n × L × hidden floats, only when n·L ≤ 2·dim), the block's weights as floats (4 bytes a weight, packed for the matmul inside
 *       DenseLinear: a quantized layer's dequantized copy replaces its source) and the block's
 *       packed layers so far;</li>
 *   <li>for the group (width w): H as doubles and as floats (12 w² bytes; H is made in the double
 *       sums' own array), the factor U = chol(H⁻¹) as doubles (8 w²), which the
 *       group's SharedFactors scope keeps until its last layer's error is reported, and each
 *       method's own copies of H (gptq --act-order: the permuted H, kept with its factor; vptq: the
 *       permuted/normalised H per layer and its own factor, one kept per distinct H; gptvq's
 *       codebook update multiplies by the group's float H, no copy of it); the dequantized copies of the group's layers (the
 *       group's quantized weights are handed back together);</li>
 *   <li>for the layer (rows × w): its W unpacked from the DenseLinear (a copy), and the method's
 *       working set, the larger of the quantizing and the reporting moment; the report
 *       (Calibration.quadratic) holds W − Q and (W − Q)·H, two floats a weight, and the CPU gemm its
 *       result and a packed H.</li>
 * </ul>
 * Not a moment of its own: the block forward's uploads of the weights a pass runs
 * (ResidentBlock, 4 bytes a weight more on the CPU backend, which packs them) are let go before a
 * group is quantized, so the passes hold less than the quantizing moments at Llama shapes.
 * Then headroom for what the count leaves out ({@link #MARGIN} of it and {@link #FIXED}): the
 * JVM's own objects made during the run, the garbage collector's need of free regions (G1: a
 * humongous array takes whole regions, and the young generation some), small per-thread buffers.
 * Measured (docs/BENCHMARKS.md, "The memory estimate against the heap a run needs"): the estimate
 * plus what the JVM held before is at least the smallest -Xmx that completes, at the shapes and
 * methods measured there; HeapCliTest checks it at two shapes. Not counted: codebooks shared across
 * layers (--share-codebooks, small), --target-bpw's measuring pass before the run (budget.Sensitivity,
 * which quantizes every candidate on every layer and keeps their packed layers), and what the
 * process holds already (the model, for a llama2.c or GGUF source), which the free memory it is
 * compared with accounts for. A plan's run
 * is counted with the most demanding of its specs at every layer.
 *
 * <p>The system property {@code vq4j.memory-estimate-scale} (default 1) multiplies the estimate
 * before the comparison. It is for tests only: with a value below 1 a test lets a run through
 * that cannot fit, to check that a real OutOfMemoryError still ends in one line; 0 turns the
 * check off.
 */
final class MemoryEstimate {
    /** Headroom on the counted bytes: the estimate is (1 + MARGIN) × the count + {@link #FIXED}. */
    static final double MARGIN = 0.10;
    /** The fixed part of the headroom: G1's young regions and the JVM's own objects made during the run. */
    static final long FIXED = 32L << 20;
    /** The test-only scale of the estimate (see the class comment). */
    static final String SCALE_PROPERTY = "vq4j.memory-estimate-scale";

    /** One term of the estimate. */
    record Part(String what, long bytes) {
    }

    /** The terms of the peak moment, and where the run is then ("mlp.down_proj 4096x11008" or the text). */
    record Peak(String where, List<Part> parts) {
        long total() {
            return MemoryEstimate.total(parts);
        }
    }

    private MemoryEstimate() {
    }

    /** The terms of the largest moment of calibrating, for the given specs (one, or a plan's several). */
    static Peak calibrating(LlamaConfig c, long n, long len, Collection<QuantSpec> specs) {
        long dim = c.dim();
        long q = c.qDim();
        long kv = c.kvDim();
        long hidden = c.hiddenDim();
        long blockWeights = q * dim + 2 * kv * dim + dim * q + 3 * hidden * dim;
        long heads = Math.min(c.nHeads(), Runtime.getRuntime().availableProcessors());
        long sequence = add(mul(len, 4 * dim + 2 * q + 2 * kv + 2 * hidden, 4),
                mul(heads, add(mul(len, len), mul(len, 4, c.headDim())), 4));
        List<Part> run = new ArrayList<>();
        run.add(new Part("calibration activations " + n + " x " + len + " x " + dim, mul(n, len, dim, 4)));
        run.add(new Part("calibration tokens", mul(n, len, 4)));
        run.add(new Part("one sequence in the block", sequence));
        run.add(new Part("a block's weights", mul(blockWeights, 4)));
        Peak best = null;
        for (LinearGroup g : LinearGroup.values()) {
            long w = g.inputWidth(c);
            long[] rows = new long[g.linears().size()];
            for (int i = 0; i < rows.length; i++) {
                rows[i] = outputRows(g, i, c);
            }
            for (QuantSpec spec : specs) {
                List<Part> parts = new ArrayList<>(run);
                long packedSoFar = 0;
                for (LinearGroup before : LinearGroup.values()) {
                    if (before == g) {
                        break;
                    }
                    for (int i = 0; i < before.linears().size(); i++) {
                        packedSoFar = add(packedSoFar, packedBytes(spec, outputRows(before, i, c),
                                before.inputWidth(c)));
                    }
                }
                int largest = 0;
                long groupWeights = 0;
                for (int i = 0; i < rows.length; i++) {
                    largest = rows[i] > rows[largest] ? i : largest;
                    groupWeights = add(groupWeights, mul(rows[i], w));
                    if (i < rows.length - 1) {
                        packedSoFar = add(packedSoFar, packedBytes(spec, rows[i], w));
                    }
                }
                parts.add(new Part("the block's packed layers so far", packedSoFar));
                if (g == LinearGroup.O) { // DecoderBlock.forward keeps them from o's pass to gate/up's
                    parts.add(new Part("the attention outputs kept for o_proj's residual", mul(n, len, q, 4)));
                }
                if (g == LinearGroup.DOWN && ResidentBlock.keepsHidden(c, n, len)) { // down's pass to the last
                    parts.add(new Part("the MLP's hidden activations kept for the last pass", mul(n, len, hidden, 4)));
                }
                String where = g.linears().get(largest) + " (" + rows[largest] + "x" + w + ")";
                // the moment H is made from the double sums (both live), before any layer of the group
                List<Part> making = new ArrayList<>(parts);
                making.add(new Part("Hessian " + w + "x" + w + " (made in its double sums' array) and its float copy",
                        mul(w, w, 12)));
                // the moment the largest layer is quantized or reported
                parts.addAll(group(spec, rows.length, w));
                parts.add(new Part("the group's dequantized copies", mul(groupWeights, 4)));
                // DenseLinear holds its weights packed; the layer's W is an unpacked copy of them
                parts.add(new Part("the layer's W, unpacked", mul(rows[largest], w, 4)));
                parts.add(layer(spec, rows[largest], w));
                for (List<Part> moment : List.of(making, parts)) {
                    Peak p = new Peak(where, moment);
                    if (best == null || p.total() > best.total()) {
                        best = p;
                    }
                }
            }
        }
        return best;
    }

    private static long outputRows(LinearGroup g, int i, LlamaConfig c) {
        return switch (g) {
            case QKV -> i == 0 ? c.qDim() : c.kvDim();
            case O -> c.dim();
            case GATE_UP -> c.hiddenDim();
            case DOWN -> c.dim();
        };
    }

    /** The group's Hessians and factors while its layers are quantized. */
    private static List<Part> group(QuantSpec spec, int layers, long w) {
        long w2 = mul(w, w);
        String m = spec.method();
        MethodOptions o = spec.options();
        long factors; // beyond H (double) and its float copy
        String what;
        switch (m) {
            case "gptq" -> {
                boolean act = o instanceof GptqOptions g && g.actOrder();
                factors = mul(w2, 8 + (act ? 8 : 0) + (act && layers > 1 ? 8 : 0));
                what = act ? "the factor U and the permuted H" : "the factor U";
            }
            case "gptvq" -> {
                factors = mul(w2, 8);
                what = "the factor U";
            }
            case "vptq" -> {
                boolean norm = !(o instanceof VptqOptions v) || v.norm();
                long kept = norm ? layers : 1; // distinct H's, each kept with its factor by SharedFactors
                factors = mul(w2, 16 * kept + (!norm && layers > 1 ? 8 : 0));
                what = "each layer's permuted H and its factor U";
            }
            case "rtn", "kmeans" -> {
                factors = 0;
                what = "";
            }
            default -> { // an unknown method: more than any of them holds
                factors = mul(w2, 16L * layers + 8);
                what = "factors and copies of H";
            }
        }
        List<Part> parts = new ArrayList<>();
        parts.add(new Part("Hessian " + w + "x" + w + " (double and float)", mul(w2, 12)));
        if (factors > 0) {
            parts.add(new Part(what, factors));
        }
        return parts;
    }

    /**
     * A layer's own working set (rows × w), the largest of its moments: quantizing it, and
     * reporting its error. The report (Calibration.quadratic) holds W − Q and (W − Q)·H, and the
     * CPU backend's gemm makes the product through its own result array and a packed copy of H
     * (CpuBackend.gemm, PackedMatmul.pack; H goes in as its own transpose, so no transposed copy):
     * three floats a weight and one of H's. gptvq's codebook update (CodebookUpdate) multiplies by
     * the same float H the same way.
     */
    private static Part layer(QuantSpec spec, long rows, long w) {
        long rw = mul(rows, w);
        long w2 = mul(w, w);
        // the report gives H as its own transpose (it is symmetric): no Hᵀ, the packing and the result
        Part report = new Part("the error report's W - Q, (W - Q)H and the gemm's packed H", add(mul(rw, 12),
                mul(w2, 4)));
        MethodOptions o = spec.options();
        long d = o instanceof VectorOptions v ? Math.max(1, v.dim()) : 1;
        Part quantize = switch (spec.method()) {
            case "gptq" -> {
                long bs = o instanceof GptqOptions g ? Math.min(Math.max(1, g.blockSize()), w) : Math.min(128, w);
                // W's copy, the codes, the block's errors, the U panel (host and resident), U's block
                yield new Part("gptq's W, codes and panels", add(mul(rw, 8), add(mul(rows, bs, 4),
                        add(mul(bs, w, 8), mul(bs, bs, 8)))));
            }
            case "gptvq" -> {
                boolean update = !(o instanceof GptvqOptions g) || g.codebookUpdate();
                long bs = o instanceof GptvqOptions g ? Math.max(d, g.blockSize()) : 128;
                // W's copy, the scale of each weight, the indices, the block's errors
                long base = add(mul(rw, 8), add(mul(rw, 4) / d, mul(rows, bs, 4)));
                // the EM's vectors (twice) and their nearest index and distance
                long em = add(mul(rw, 8), mul(rw, 8) / d);
                // the codebook update: each weight's entry, L(θ) (or Q and W − Q), its product with
                // the calibration's float H (counted with the group) through the gemm, which takes the
                // symmetric H as its own transpose: its packing of H and its result
                long up = update ? add(mul(rw, 12), add(mul(w2, 4), mul(rw, 4))) : 0;
                yield new Part(update && up > em ? "gptvq's codebook update (the gemm's packed H)"
                        : "gptvq's W, scales, indices and EM vectors", add(base, Math.max(em, up)));
            }
            case "vptq" -> {
                long stages = 1;
                if (o instanceof VptqOptions v) {
                    stages += v.residualCentroids().size();
                }
                // Wᵀ, the pass's W, Q and residual and the tail of the update, the indices; k-means'
                // vectors, weights, nearest index and distance
                yield new Part("vptq's Wᵀ, pass and k-means", add(mul(rw, 4), add(mul(rw, 16),
                        add(mul(rw, 4 * stages) / d, add(mul(rw, 8), mul(rw, 8) / d)))));
            }
            case "kmeans" -> new Part("k-means' vectors", add(mul(rw, 8), add(mul(rw, 8) / d, mul(rw, 4) / d)));
            case "rtn" -> new Part("rtn's codes", mul(rw, 8));
            default -> new Part("a method's working set", add(mul(rw, 32), mul(w2, 12)));
        };
        Part larger = quantize.bytes() > report.bytes() ? quantize : report;
        long k = o instanceof VectorOptions v ? Math.max(1, v.centroids()) : 1;
        return new Part(larger.what(), add(larger.bytes(), codebookBytes(spec, rows, w, k, d)));
    }

    /** Codebooks of a layer: k × d floats per codebook group. */
    private static long codebookBytes(QuantSpec spec, long rows, long w, long k, long d) {
        if (!(spec.options() instanceof VectorOptions)) {
            return 0;
        }
        long groups = 1;
        if (spec.options() instanceof GptvqOptions g) {
            groups = (g.groupSize() > 0 ? Math.max(1, w / g.groupSize()) : 1)
                    * (g.groupRows() > 0 ? Math.max(1, rows / g.groupRows()) : 1);
        }
        return mul(groups, k, d, 4);
    }

    /** A packed layer's bytes, bounded: 1 byte a weight (codes of at most 8 bits and their grids), 2 beyond. */
    private static long packedBytes(QuantSpec spec, long rows, long w) {
        double bits = 8;
        if (spec.options() instanceof VectorOptions v) {
            bits = (64 - Long.numberOfLeadingZeros(Math.max(1, v.centroids() - 1))) / (double) Math.max(1, v.dim());
        }
        return add(mul(rows, w, bits > 7 ? 2 : 1), codebookBytes(spec, rows, w,
                spec.options() instanceof VectorOptions v ? v.centroids() : 1,
                spec.options() instanceof VectorOptions v ? v.dim() : 1));
    }

    /** The larger moment: the text read beside the tokens, or calibrating. */
    static Peak peak(LlamaConfig c, long n, long len, long calibTextBytes, Collection<QuantSpec> specs) {
        Peak calibrating = calibrating(c, n, len, specs);
        Peak reading = new Peak("reading the calibration text", List.of(
                new Part("calibration text", mul(calibTextBytes, 3)), new Part("calibration tokens", mul(n, len, 4))));
        return reading.total() > calibrating.total() ? reading : calibrating;
    }

    /** The estimate: the peak's count with the margin. */
    static long estimate(Peak p) {
        long t = p.total();
        return t > Long.MAX_VALUE / 4 ? Long.MAX_VALUE : (long) Math.ceil(t * (1 + MARGIN)) + FIXED;
    }

    static long total(List<Part> parts) {
        long t = 0;
        for (Part p : parts) {
            t = add(t, p.bytes());
        }
        return t;
    }

    /** Refuses, in one line, a run whose estimate exceeds what the JVM can still allocate. */
    static void check(LlamaConfig c, int n, int len, long calibTextBytes, Collection<QuantSpec> specs, Runtime rt) {
        Peak peak = peak(c, n, len, calibTextBytes, specs);
        long need = estimate(peak);
        long max = rt.maxMemory();
        long used = rt.totalMemory() - rt.freeMemory();
        double scale = scale();
        if (need * scale <= max - used) {
            return;
        }
        rt.gc(); // before refusing: what is live, not the garbage of reading the model and the text
        used = rt.totalMemory() - rt.freeMemory();
        long free = max - used;
        if (need * scale <= free) {
            return;
        }
        StringBuilder sb = new StringBuilder();
        long activations = 0;
        for (Part p : peak.parts()) {
            if (p.what().startsWith("calibration")) {
                activations = add(activations, p.bytes());
            }
            if (p.bytes() >= need / 20) { // the terms that matter
                sb.append(sb.isEmpty() ? "" : ", ").append(p.what()).append(' ').append(size(p.bytes()));
            }
        }
        long gib = 1L << 30;
        long xmx = (add(need, used) + gib - 1) / gib;
        String fewer = activations >= need / 4
                ? "or use fewer or shorter calibration sequences (--calib-samples " + n + " x --calib-len " + len
                + " hold " + size(activations) + ")"
                : "fewer calibration sequences would save at most " + size(activations) + " of it (--calib-samples "
                + n + " x --calib-len " + len + ")";
        throw new InputException("this run needs about " + size(need) + " of heap at its peak, at "
                + peak.where() + ": " + sb + ", plus " + Math.round(MARGIN * 100) + " % and " + size(FIXED) + " of headroom; the JVM has "
                + size(free) + " free of its " + size(max) + " (Runtime.maxMemory(), -Xmx): run it with -Xmx"
                + xmx + "g or more (VQ_JAVA_OPTS), " + fewer);
    }

    /** The test-only scale of the estimate ({@value #SCALE_PROPERTY}, default 1). */
    private static double scale() {
        String s = System.getProperty(SCALE_PROPERTY);
        if (s == null) {
            return 1;
        }
        try {
            double v = Double.parseDouble(s);
            if (v >= 0 && Double.isFinite(v)) {
                return v;
            }
        } catch (NumberFormatException e) {
            // falls through
        }
        throw new InputException("-D" + SCALE_PROPERTY + "=" + s + ": must be a number >= 0 (a test's setting)");
    }

    static String size(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        }
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }

    /** Products saturate at Long.MAX_VALUE: a count that large is refused all the same. */
    private static long mul(long... f) {
        long p = 1;
        for (long x : f) {
            p = Math.multiplyHigh(p, x) != 0 || p * x < 0 ? Long.MAX_VALUE : p * x;
        }
        return p;
    }

    private static long add(long a, long b) {
        long s = a + b;
        return s < 0 ? Long.MAX_VALUE : s;
    }
}
