package io.vq4j.quant;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/** The registry of --method names. */
public final class Methods {
    private static final Map<String, Supplier<LayerQuantizer>> METHODS = new LinkedHashMap<>();

    static {
        METHODS.put("rtn", RtnQuantizer::new);
        METHODS.put("vptq", Vptq::new);
    }

    private Methods() {
    }

    public static Iterable<String> names() {
        return METHODS.keySet();
    }

    /** The quantizer for a method name; IllegalArgumentException naming the known ones otherwise. */
    public static LayerQuantizer forName(String name) {
        Supplier<LayerQuantizer> s = METHODS.get(name);
        if (s == null) {
            throw new IllegalArgumentException("unknown method '" + name + "' (known: "
                    + String.join(", ", METHODS.keySet()) + ")");
        }
        return s.get();
    }

    /** Checks shared by the scalar methods (rtn, gptq). */
    static void checkScalar(QuantSpec s, int cols) {
        if (s.bits() < 2 || s.bits() > 8) {
            throw new IllegalArgumentException("--bits must be 2..8 for " + s.method() + ", got " + s.bits());
        }
        if (s.groupSize() < 0) {
            throw new IllegalArgumentException("--group-size must be >= 0, got " + s.groupSize());
        }
    }
}
