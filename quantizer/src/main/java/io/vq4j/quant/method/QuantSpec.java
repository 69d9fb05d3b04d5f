package io.vq4j.quant.method;

import com.fasterxml.jackson.annotation.JsonValue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What `vq quantize` runs: the method's own options record, and what the job needs whatever
 * the method. Each method checks its options against a layer shape ({@link LayerQuantizer#validate}).
 *
 * <p>Written out (quantization_config.spec in config.json, the report's spec, the resume
 * fingerprint) as format 1 has it: the fields of {@link #fields()} in that order.
 *
 * @param options        the method's options (its method: {@code options.method()})
 * @param percdamp       Hessian damping λ: H += λ · mean(diag H) · I
 * @param shareCodebooks for the vector methods: "none" (a codebook per layer), "kind" (one per kind
 *                       of layer — q_proj, …, down_proj — shared by every block), "all" (one for
 *                       every layer); a shared codebook is fitted once on the pooled weights and
 *                       stored once in the packed directory
 */
public record QuantSpec(MethodOptions options, double percdamp, String shareCodebooks) {

    /** --share-codebooks values: one codebook per layer, per kind of layer across blocks, one for all. */
    public static final List<String> SHARING = List.of("none", "kind", "all");

    public static final MethodOption<Double> PERCDAMP = MethodOption.real("--percdamp", "X", 0.01,
            "Hessian damping (default 0.01)");
    public static final MethodOption<String> SHARE_CODEBOOKS = MethodOption.text("--share-codebooks", "S", "none",
            MethodOption.METHODS + ": none (a codebook per layer, default), kind (one per kind of layer, shared by"
                    + " all blocks) or all (one for every layer)");

    /**
     * Format 1's fields between "method" and "percdamp": each from an option, with the value it
     * has for a method that does not take the option. Options a method takes beyond these
     * follow after "shareCodebooks", named in camel case.
     */
    private static final List<Field> FORMAT_1 = List.of(
            new Field("bits", "--bits", 4, false),
            new Field("groupSize", "--group-size", 128, false),
            new Field("symmetric", "--symmetric", false, false),
            new Field("dim", "--dim", 2, false),
            new Field("centroids", "--centroids", 256, false),
            new Field("groupRows", "--group-rows", 0, false),
            new Field("residualCentroids", "--residual-centroids", List.of(), false),
            new Field("outlierPercent", "--outlier-percent", 0.0, false),
            new Field("outlierCentroids", "--outlier-centroids", 0, false),
            new Field("perm", "--perm", false, false),
            new Field("norm", "--norm", false, false),
            new Field("actOrder", "--act-order", false, false),
            new Field("blockSize", "--block-size", 128, false),
            new Field("iters", "--iters", 25, false),
            new Field("tol", "--tol", 1e-4, false),
            new Field("init", "--init", "kmeans++", false),
            new Field("codebookUpdate", "--no-codebook-update", true, true),
            new Field("blockNorm", "--block-norm", 0, false),
            new Field("int8Codebooks", "--int8-codebooks", false, false));

    /** A field of the written spec and the flag or value it comes from (a negated flag: codebookUpdate). */
    private record Field(String name, String option, Object absent, boolean negated) {
        Object from(Object value) {
            return negated ? !(Boolean) value : value;
        }
    }

    /**
     * The largest --percdamp: at λ = 100 the damping adds 100 times H's mean diagonal, so H is as
     * good as a multiple of I and error feedback has nothing left to use; past it lies overflow.
     */
    public static final double MAX_PERCDAMP = 100;

    public QuantSpec {
        Objects.requireNonNull(options, "options");
        if (!(percdamp >= 0 && percdamp <= MAX_PERCDAMP)) {
            throw new IllegalArgumentException(PERCDAMP.name() + ": must be a number in 0.." + (int) MAX_PERCDAMP
                    + ", got " + percdamp);
        }
        if (!SHARING.contains(shareCodebooks)) {
            throw new IllegalArgumentException("--share-codebooks must be none, kind or all, got '" + shareCodebooks
                    + "'");
        }
        if (!shareCodebooks.equals("none") && !options.method().sharesCodebooks()) {
            throw new IllegalArgumentException(SHARE_CODEBOOKS.name() + ": not an option of --method "
                    + options.method().name());
        }
    }

    /** The method's options with the shared settings at their defaults. */
    public QuantSpec(MethodOptions options) {
        this(options, PERCDAMP.defaultValue(), SHARE_CODEBOOKS.defaultValue());
    }

    /** The options of this record, in the order the CLI lists them (after the methods' own). */
    public static final List<MethodOption<?>> COMMON = List.of(SHARE_CODEBOOKS, PERCDAMP);

    /** The options of {@link #COMMON} a method takes: --share-codebooks where it can share codebooks. */
    public static List<MethodOption<?>> commonOptions(Method<?> m) {
        return COMMON.stream().filter(o -> o != SHARE_CODEBOOKS || m.sharesCodebooks()).toList();
    }

    /** The --method name. */
    public String method() {
        return options.method().name();
    }

    /** Whether the first codebook stage is shared between layers (--share-codebooks kind|all). */
    public boolean sharesCodebooks() {
        return !shareCodebooks.equals("none");
    }

    /** The options of a vector method. */
    public VectorOptions vector() {
        if (options instanceof VectorOptions v) {
            return v;
        }
        throw new IllegalArgumentException(method() + " is not a vector method");
    }

    /** Every option of the spec (option name → value): the method's, then the common ones it takes. */
    public Map<String, Object> values() {
        Map<String, Object> out = new LinkedHashMap<>(options.method().values(options));
        if (options.method().sharesCodebooks()) {
            out.put(SHARE_CODEBOOKS.name(), shareCodebooks);
        }
        out.put(PERCDAMP.name(), percdamp);
        return Collections.unmodifiableMap(out);
    }

    /** The written spec (format 1): field name → value, in order. Jackson writes the spec as this. */
    @JsonValue
    public Map<String, Object> fields() {
        Map<String, Object> own = new LinkedHashMap<>(options.method().values(options));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("method", method());
        for (Field f : FORMAT_1) {
            out.put(f.name(), own.containsKey(f.option()) ? f.from(own.remove(f.option())) : f.absent());
        }
        out.put("percdamp", percdamp);
        out.put("shareCodebooks", shareCodebooks);
        for (Map.Entry<String, Object> e : own.entrySet()) {
            out.put(camelCase(e.getKey()), e.getValue());
        }
        return Collections.unmodifiableMap(out);
    }

    /** "QuantSpec[method=kmeans, bits=4, ...]": {@link #fields()}, as format 1's record printed itself. */
    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        fields().forEach((k, v) -> parts.add(k + "=" + v));
        return "QuantSpec[" + String.join(", ", parts) + "]";
    }

    private static String camelCase(String option) {
        StringBuilder b = new StringBuilder();
        boolean up = false;
        for (char c : option.substring(2).toCharArray()) {
            if (c == '-') {
                up = true;
            } else {
                b.append(up ? Character.toUpperCase(c) : c);
                up = false;
            }
        }
        return b.toString();
    }
}
