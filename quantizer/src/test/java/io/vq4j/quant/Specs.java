package io.vq4j.quant;

import io.vq4j.quant.method.MethodOptions;
import io.vq4j.quant.method.QuantSpec;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Specs for tests, made through the registry's option tables as the CLI makes them:
 * {@code Specs.of("gptq", "--bits", 3, "--act-order", true)}; values of the option's type.
 */
public final class Specs {
    private Specs() {
    }

    /** A method's spec: its defaults, the given options over them. */
    public static QuantSpec of(String method, Object... optionValues) {
        return QuantOptions.build(method, map(optionValues));
    }

    /** The spec with some options given again. */
    public static QuantSpec with(QuantSpec base, Object... optionValues) {
        Map<String, Object> given = new LinkedHashMap<>(base.values());
        given.putAll(map(optionValues));
        return QuantOptions.build(base.method(), given);
    }

    /** The options record with some options given again. */
    @SuppressWarnings("unchecked")
    public static <O extends MethodOptions> O with(O options, Object... optionValues) {
        return (O) with(new QuantSpec(options), optionValues).options();
    }

    private static Map<String, Object> map(Object... kv) {
        if (kv.length % 2 != 0) {
            throw new IllegalArgumentException("option, value pairs");
        }
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }
}
