package io.vq4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vq4j.core.InputException;
import io.vq4j.quant.method.QuantSpec;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Option values that were accepted and silently meant something else (issue 21 item 15): a
 * negative group read as "whole row", --iters 0 keeping the k-means seeds, a negative or NaN
 * --tol, a --percdamp that overflows the damping. Each is refused where its check lives: the
 * method's validate (one line, as the CLI shows it) or the spec.
 */
class OptionRangeTest {
    /** The message of a method's refusal of {@code given} on a 64 x 64 layer. */
    private static String refusal(String method, Map<String, ?> given) {
        QuantSpec s = QuantOptions.build(method, given);
        return assertThrows(IllegalArgumentException.class, () -> s.options().method().validate(s, 64, 64))
                .getMessage();
    }

    @Test
    void kMeansIterationsAndToleranceOfEveryVectorMethod() {
        for (String m : new String[]{"kmeans", "gptvq", "vptq"}) {
            assertEquals("--iters must be at least 1 (k-means iterations), got 0", refusal(m, Map.of("--iters", 0)), m);
            assertEquals("--iters must be at least 1 (k-means iterations), got -3", refusal(m, Map.of("--iters", -3)));
            assertEquals("--tol must be a finite number >= 0, got -1.0", refusal(m, Map.of("--tol", -1.0)), m);
            assertEquals("--tol must be a finite number >= 0, got NaN", refusal(m, Map.of("--tol", Double.NaN)), m);
            assertEquals("--tol must be a finite number >= 0, got Infinity",
                    refusal(m, Map.of("--tol", Double.POSITIVE_INFINITY)), m);
        }
    }

    @Test
    void negativeCodebookGroupsAreNotWholeRows() {
        for (String m : new String[]{"kmeans", "gptvq"}) {
            assertEquals("--group-size must be >= 0 (0 = whole rows), got -1", refusal(m, Map.of("--group-size", -1)));
            assertEquals("--group-rows must be >= 0 (0 = all rows), got -1", refusal(m, Map.of("--group-rows", -1)));
        }
        assertEquals("--group-size must be >= 0, got -1", refusal("rtn", Map.of("--group-size", -1)));
        assertEquals("--group-size must be >= 0, got -1", refusal("gptq", Map.of("--group-size", -1)));
    }

    @Test
    void percdampIsANumberThatCannotOverflowTheDamping() {
        for (double bad : new double[]{-1, -0.001, 1e308, 101, Double.NaN, Double.POSITIVE_INFINITY}) {
            assertEquals("--percdamp: must be a number in 0..100, got " + bad, assertThrows(InputException.class,
                    () -> QuantOptions.build("gptq", Map.of("--percdamp", bad))).getMessage());
        }
        assertEquals(0.0, QuantOptions.build("gptq", Map.of("--percdamp", 0.0)).percdamp());
        assertEquals(100.0, QuantOptions.build("gptq", Map.of("--percdamp", 100.0)).percdamp());
    }

    @Test
    void theDefaultsStillPass() {
        for (String m : Methods.names()) {
            QuantSpec s = QuantOptions.build(m, Map.of());
            s.options().method().validate(s, 64, 64);
        }
    }
}
