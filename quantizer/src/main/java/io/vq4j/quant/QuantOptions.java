package io.vq4j.quant;

import io.vq4j.core.InputException;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.MethodOption;
import io.vq4j.quant.method.MethodOptions;
import io.vq4j.quant.method.QuantSpec;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The method options of `vq quantize` as data, gathered from the registry: every option, which
 * methods take it, and how a set of given options becomes a {@link QuantSpec}. `vq quantize`
 * and `vq sweep` both go through {@link #build}, so an option means the same in both. Option
 * names are the CLI's, with their leading "--".
 */
public final class QuantOptions {
    /** Every option by name, in the order `vq quantize --help` lists them (see {@link #all}). */
    private static final Map<String, MethodOption<?>> ALL;

    static {
        Map<String, MethodOption<?>> all = new LinkedHashMap<>();
        for (Method<?> m : Methods.all()) {
            for (MethodOption<?> o : m.table().options()) {
                add(all, o, m);
            }
        }
        for (MethodOption<?> o : QuantSpec.COMMON) {
            add(all, o, null);
        }
        ALL = Collections.unmodifiableMap(all);
    }

    private QuantOptions() {
    }

    private static void add(Map<String, MethodOption<?>> all, MethodOption<?> o, Method<?> m) {
        MethodOption<?> before = all.putIfAbsent(o.name(), o);
        if (before != null && !before.equals(o)) {
            throw new IllegalStateException(o.name() + " is defined twice, differently (" + (m == null ? "spec" : m)
                    + "): define a shared option once");
        }
    }

    /**
     * Every method option: the methods' own in the order they first appear in the registry
     * (each method's table in its order), then the ones every method shares (--share-codebooks,
     * --percdamp).
     */
    public static List<MethodOption<?>> all() {
        return List.copyOf(ALL.values());
    }

    /** An option by its name (with "--"), or null. */
    public static MethodOption<?> option(String name) {
        return ALL.get(name);
    }

    /** The options a method takes, in {@link #all} order. */
    public static List<String> allowed(String method) {
        Method<?> m = Methods.find(method);
        if (m == null) {
            throw unknownMethod(method);
        }
        return ALL.keySet().stream().filter(o -> takes(m, o)).toList();
    }

    /** Whether a method takes an option: its own, or a common one it takes. */
    public static boolean takes(Method<?> m, String option) {
        return m.table().takes(option) || QuantSpec.commonOptions(m).stream().anyMatch(o -> o.name().equals(option));
    }

    /** The methods that take an option, in registry order. */
    public static List<Method<?>> takenBy(String option) {
        return Methods.all().stream().filter(m -> takes(m, option)).toList();
    }

    /**
     * An option's help text with its method placeholders filled in ("rtn/gptq: bits per
     * weight, ..."): the methods that take it, the scalar and the vector ones among them.
     */
    public static String help(MethodOption<?> o) {
        List<Method<?>> by = takenBy(o.name());
        return o.help().replace(MethodOption.METHODS, join(by))
                .replace(MethodOption.SCALAR, join(by.stream().filter(m -> !m.isVector()).toList()))
                .replace(MethodOption.VECTOR, join(by.stream().filter(Method::isVector).toList()));
    }

    private static String join(List<Method<?>> methods) {
        return methods.stream().map(Method::name).collect(Collectors.joining("/"));
    }

    public static InputException unknownMethod(String method) {
        return new InputException("--method: " + Methods.unknown(method));
    }

    /**
     * Parses one option value from text ({@link MethodOption#parse}).
     *
     * @throws IllegalArgumentException with a message naming what was expected
     */
    public static Object parse(String option, String text) {
        MethodOption<?> o = ALL.get(option);
        if (o == null) {
            throw new IllegalArgumentException("unknown option " + option);
        }
        return o.parse(text);
    }

    /**
     * The spec for a method and the options given (name → value of the option's type; null or
     * absent = not given; FLAG false = not given). Refuses options the method does not take.
     */
    public static QuantSpec build(String method, Map<String, ?> given) {
        Method<?> m = Methods.find(method);
        if (m == null) {
            throw unknownMethod(method);
        }
        for (Map.Entry<String, ?> e : given.entrySet()) {
            if (!ALL.containsKey(e.getKey())) {
                throw new InputException(e.getKey() + ": not an option of vq quantize");
            }
            if (e.getValue() != null && !Boolean.FALSE.equals(e.getValue()) && !takes(m, e.getKey())) {
                throw new InputException(e.getKey() + ": not an option of --method " + method);
            }
        }
        double percdamp = value(given, QuantSpec.PERCDAMP);
        String share = value(given, QuantSpec.SHARE_CODEBOOKS);
        if (!QuantSpec.SHARING.contains(share)) {
            throw new InputException(QuantSpec.SHARE_CODEBOOKS.name() + ": must be none, kind or all, got '" + share
                    + "'");
        }
        MethodOptions options = m.options(given);
        try {
            return new QuantSpec(options, percdamp, share);
        } catch (IllegalArgumentException e) {
            throw new InputException(e.getMessage());
        }
    }

    private static <T> T value(Map<String, ?> given, MethodOption<T> o) {
        Object v = given.get(o.name());
        return v == null ? o.defaultValue() : o.cast(v);
    }
}
