package io.vq4j.quant;

import io.vq4j.quant.gptq.Gptq;
import io.vq4j.quant.gptvq.Gptvq;
import io.vq4j.quant.kmeans.KMeansVq;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.rtn.RtnQuantizer;
import io.vq4j.quant.vptq.Vptq;

import java.util.List;
import java.util.function.Predicate;

/**
 * The registry of --method names: every method, one line each. Everything else (the CLI's
 * options, the sweep's notation, the checks) asks the registry or the method.
 */
public final class Methods {
    /** In the order the CLI and the error messages list them. */
    private static final List<Method<?>> METHODS = List.of(
            RtnQuantizer.METHOD,
            Gptq.METHOD,
            KMeansVq.METHOD,
            Gptvq.METHOD,
            Vptq.METHOD);

    private Methods() {
    }

    public static List<Method<?>> all() {
        return METHODS;
    }

    public static List<String> names() {
        return METHODS.stream().map(Method::name).toList();
    }

    /** The method of a name, or null. */
    public static Method<?> find(String name) {
        return METHODS.stream().filter(m -> m.name().equals(name)).findFirst().orElse(null);
    }

    /** The method of a name; IllegalArgumentException naming the known ones otherwise. */
    public static Method<?> forName(String name) {
        Method<?> m = find(name);
        if (m == null) {
            throw new IllegalArgumentException(unknown(name));
        }
        return m;
    }

    /** "unknown method 'x' (known: rtn, gptq, ...)". */
    public static String unknown(String name) {
        return "unknown method '" + name + "' (known: " + String.join(", ", names()) + ")";
    }

    /** The names of the methods that pass the test, as prose: "kmeans or gptvq", "rtn, gptq, kmeans, gptvq or vptq". */
    public static String listed(Predicate<Method<?>> which) {
        List<String> n = METHODS.stream().filter(which).map(Method::name).toList();
        if (n.size() <= 1) {
            return String.join("", n);
        }
        return String.join(", ", n.subList(0, n.size() - 1)) + " or " + n.getLast();
    }
}
