package io.vq4j.quant;

import io.vq4j.core.InputException;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The method options of `vq quantize` as data: which option each method accepts, the type of
 * its value, and how a set of given options becomes a {@link QuantSpec}. `vq quantize` and
 * `vq sweep` both go through {@link #build}, so an option means the same in both.
 * Option names are the CLI's, with their leading "--".
 */
public final class QuantOptions {
    private QuantOptions() {
    }

    /** The value type of an option. */
    public enum Type {
        INT, DOUBLE, FLAG, TEXT, INT_LIST
    }

    public static final List<String> METHODS = List.of("rtn", "gptq", "kmeans", "gptvq", "vptq");

    /** Every method option and its type, in the order `vq quantize --help` lists them. */
    public static final Map<String, Type> TYPES;

    static {
        Map<String, Type> t = new LinkedHashMap<>();
        t.put("--bits", Type.INT);
        t.put("--group-size", Type.INT);
        t.put("--symmetric", Type.FLAG);
        t.put("--act-order", Type.FLAG);
        t.put("--block-size", Type.INT);
        t.put("--dim", Type.INT);
        t.put("--centroids", Type.INT);
        t.put("--group-rows", Type.INT);
        t.put("--iters", Type.INT);
        t.put("--tol", Type.DOUBLE);
        t.put("--init", Type.TEXT);
        t.put("--int8-codebooks", Type.FLAG);
        t.put("--no-codebook-update", Type.FLAG);
        t.put("--block-norm", Type.INT);
        t.put("--residual-centroids", Type.INT_LIST);
        t.put("--outlier-percent", Type.DOUBLE);
        t.put("--outlier-centroids", Type.INT);
        t.put("--perm", Type.FLAG);
        t.put("--norm", Type.FLAG);
        t.put("--config", Type.TEXT);
        t.put("--share-codebooks", Type.TEXT);
        t.put("--percdamp", Type.DOUBLE);
        TYPES = Collections.unmodifiableMap(t);
    }

    /** Which method-specific options each method accepts (--percdamp: every method). */
    private static final Map<String, Set<String>> ALLOWED = Map.of(
            "rtn", Set.of("--bits", "--group-size", "--symmetric", "--percdamp"),
            "gptq", Set.of("--bits", "--group-size", "--symmetric", "--act-order", "--block-size", "--percdamp"),
            "kmeans", Set.of("--dim", "--centroids", "--group-size", "--group-rows", "--iters", "--tol", "--init",
                    "--int8-codebooks", "--share-codebooks", "--percdamp"),
            "gptvq", Set.of("--dim", "--centroids", "--group-size", "--group-rows", "--iters", "--tol", "--init",
                    "--int8-codebooks", "--no-codebook-update", "--block-norm", "--block-size", "--share-codebooks",
                    "--percdamp"),
            "vptq", Set.of("--dim", "--centroids", "--iters", "--tol", "--int8-codebooks", "--block-size",
                    "--residual-centroids", "--outlier-percent", "--outlier-centroids", "--perm", "--norm",
                    "--config", "--share-codebooks", "--percdamp"));

    /** The options a method accepts, in {@link #TYPES} order. */
    public static List<String> allowed(String method) {
        Set<String> a = ALLOWED.get(method);
        if (a == null) {
            throw unknownMethod(method);
        }
        return TYPES.keySet().stream().filter(a::contains).toList();
    }

    public static InputException unknownMethod(String method) {
        return new InputException("--method: unknown method '" + method + "' (known: " + String.join(", ", METHODS)
                + ")");
    }

    /**
     * Parses one option value from text: INT and DOUBLE as numbers, FLAG as true/false,
     * INT_LIST as integers joined by '+' ("none" or "0" for the empty list).
     *
     * @throws IllegalArgumentException with a message naming what was expected
     */
    public static Object parse(String option, String text) {
        Type type = TYPES.get(option);
        if (type == null) {
            throw new IllegalArgumentException("unknown option " + option);
        }
        String v = text.strip();
        try {
            return switch (type) {
                case INT -> Integer.parseInt(v);
                case DOUBLE -> {
                    double d = Double.parseDouble(v);
                    if (!Double.isFinite(d)) {
                        throw new NumberFormatException();
                    }
                    yield d;
                }
                case FLAG -> switch (v.toLowerCase(Locale.ROOT)) {
                    case "true", "yes", "on" -> Boolean.TRUE;
                    case "false", "no", "off" -> Boolean.FALSE;
                    default -> throw new IllegalArgumentException("'" + v + "' is not true or false");
                };
                case TEXT -> {
                    if (v.isEmpty()) {
                        throw new IllegalArgumentException("empty value");
                    }
                    yield v;
                }
                case INT_LIST -> {
                    List<Integer> out = new ArrayList<>();
                    if (!v.equals("none") && !v.equals("0")) {
                        for (String p : v.split("\\+", -1)) {
                            out.add(Integer.parseInt(p.strip()));
                        }
                    }
                    yield List.copyOf(out);
                }
            };
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + v + "' is not " + switch (type) {
                case INT -> "an integer";
                case DOUBLE -> "a finite number";
                default -> "a list of integers joined by '+' (or none)";
            });
        }
    }

    /**
     * The spec for a method and the options given (name → value of the option's type; null or
     * absent = not given; FLAG false = not given). Refuses options the method does not take.
     */
    @SuppressWarnings("unchecked")
    public static QuantSpec build(String method, Map<String, Object> given) {
        Set<String> allowed = ALLOWED.get(method);
        if (allowed == null) {
            throw unknownMethod(method);
        }
        for (Map.Entry<String, Object> e : given.entrySet()) {
            if (!TYPES.containsKey(e.getKey())) {
                throw new InputException(e.getKey() + ": not an option of vq quantize");
            }
            if (e.getValue() != null && !Boolean.FALSE.equals(e.getValue()) && !allowed.contains(e.getKey())) {
                throw new InputException(e.getKey() + ": not an option of --method " + method);
            }
        }
        Integer bits = (Integer) given.get("--bits");
        Integer groupSize = (Integer) given.get("--group-size");
        Integer dim = (Integer) given.get("--dim");
        Integer centroids = (Integer) given.get("--centroids");
        Integer groupRows = (Integer) given.get("--group-rows");
        List<Integer> residual = (List<Integer>) given.get("--residual-centroids");
        Double outlierPercent = (Double) given.get("--outlier-percent");
        Integer outlierCentroids = (Integer) given.get("--outlier-centroids");
        Integer iters = (Integer) given.get("--iters");
        Double tol = (Double) given.get("--tol");
        String init = (String) given.get("--init");
        Integer blockSize = (Integer) given.get("--block-size");
        Integer blockNorm = (Integer) given.get("--block-norm");
        Double percdamp = (Double) given.get("--percdamp");
        String config = (String) given.get("--config");
        String share = (String) given.get("--share-codebooks");

        QuantSpec s = QuantSpec.defaults(method);
        if (method.equals("kmeans") || method.equals("gptvq")) {
            s = s.withGroupSize(0); // VQ codebook groups default to whole rows
        }
        if (bits != null) {
            s = s.withBits(bits);
        }
        if (groupSize != null) {
            s = s.withGroupSize(groupSize);
        }
        s = s.withVq(dim != null ? dim : s.dim(), centroids != null ? centroids : s.centroids());
        if (groupRows != null) {
            s = s.withGroupRows(groupRows);
        }
        if (residual != null) {
            s = s.withResidual(residual);
        }
        if (outlierPercent != null || outlierCentroids != null) {
            s = s.withOutliers(outlierPercent != null ? outlierPercent : 0,
                    outlierCentroids != null ? outlierCentroids : 0);
        }
        s = s.withFlags(flag(given, "--symmetric"), flag(given, "--perm"), flag(given, "--norm"),
                flag(given, "--act-order"), !flag(given, "--no-codebook-update"), flag(given, "--int8-codebooks"));
        s = s.withIterations(iters != null ? iters : s.iters(), tol != null ? tol : s.tol(),
                init != null ? init : s.init());
        s = s.withBlocks(blockSize != null ? blockSize : s.blockSize(), blockNorm != null ? blockNorm : s.blockNorm(),
                percdamp != null ? percdamp : s.percdamp());
        if (share != null) {
            if (!QuantSpec.SHARING.contains(share)) {
                throw new InputException("--share-codebooks: must be none, kind or all, got '" + share + "'");
            }
            s = s.withShareCodebooks(share);
        }
        if (config != null) {
            try {
                s = VptqConfig.parse(config).apply(s);
            } catch (IllegalArgumentException e) {
                throw new InputException("--config: " + e.getMessage());
            }
        }
        return s;
    }

    private static boolean flag(Map<String, Object> given, String name) {
        return Boolean.TRUE.equals(given.get(name));
    }
}
