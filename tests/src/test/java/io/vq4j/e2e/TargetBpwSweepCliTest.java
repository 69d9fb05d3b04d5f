package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.eval.sweep.EncoderSweep;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `vq sweep --target-bpw B`: a budget row beside the uniform rows, on stories260K and on the MiniLM encoder. */
class TargetBpwSweepCliTest {
    static final ObjectMapper JSON = new ObjectMapper();

    static JsonNode row(JsonNode sweep, String name) {
        for (JsonNode c : sweep.path("configs")) {
            if (c.path("name").asText().equals(name)) {
                return c;
            }
        }
        throw new AssertionError("no row " + name + " in " + sweep.path("configs"));
    }

    @Test
    void aCausalSweepsBudgetRowStaysWithinItsBudget(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("sw");
        CliEndToEndTest.Run r = SweepCliTest.vq(SweepCliTest.args(out, "rtn:bits=2,4,group-size=32",
                "--target-bpw", "3.5", "--sensitivity", "stacked,h-error"));
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(out.resolve("sweep.json").toFile());
        assertEquals("h-error", JSON.readTree(out.resolve("runs").resolve(row(j, "target-bpw 3.5").path("slug")
                .asText()).resolve("model").resolve("quantize-report.json").toFile()).path("target_bpw_plan")
                .path("sensitivity").asText());
        JsonNode mixed = row(j, "target-bpw 3.5 stacked");
        assertEquals("target-bpw", mixed.path("method").asText());
        double bpw = mixed.path("true_bits_per_weight").asDouble();
        assertTrue(bpw <= 3.5 && bpw > 3.3, "true bits/weight " + bpw);
        assertTrue(row(j, "rtn bits=2 group-size=32").path("true_bits_per_weight").asDouble() < bpw);
        assertTrue(row(j, "rtn bits=4 group-size=32").path("true_bits_per_weight").asDouble() > 3.5);
        JsonNode report = JSON.readTree(out.resolve("runs").resolve(mixed.path("slug").asText()).resolve("model")
                .resolve("quantize-report.json").toFile());
        Set<String> chosen = new HashSet<>();
        report.path("target_bpw_plan").path("layers").forEach(l -> chosen.add(l.path("config").asText()));
        assertEquals(Set.of("rtn bits=2 group-size=32", "rtn bits=4 group-size=32"), chosen);
        // started again: every row is done before, the same table
        CliEndToEndTest.Run again = SweepCliTest.vq(SweepCliTest.args(out, "rtn:bits=2,4,group-size=32",
                "--target-bpw", "3.5", "--sensitivity", "stacked,h-error"));
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().lines().filter(l -> l.contains("target-bpw 3.5") && l.contains("(done before)")).count()
                == 2, again.out());
    }

    @Test
    void anEncoderSweepsBudgetRowIsCountedOnItsLayersFile(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("enc");
        CliEndToEndTest.Run r = CliEndToEndTest.vq(EncoderSweepCliTest.args(out, "rtn:bits=3,4,group-size=64",
                "--target-bpw", "4").toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonNode j = JSON.readTree(out.resolve("sweep.json").toFile());
        JsonNode mixed = row(j, "target-bpw 4 stacked");
        Path run = out.resolve("runs").resolve(mixed.path("slug").asText());
        long bytes = Files.size(run.resolve(EncoderSweep.LAYERS));
        assertEquals(bytes * 8.0 / EncoderSweepCliTest.WEIGHTS, mixed.path("true_bits_per_weight").asDouble(), 1e-12);
        JsonNode plan = JSON.readTree(run.resolve(EncoderSweep.PLAN).toFile());
        assertEquals(bytes, plan.path("predicted_bytes").asLong(), "the plan predicts the file's bytes exactly");
        assertTrue(bytes <= plan.path("budget_bytes").asLong());
        assertEquals((long) Math.floor(4.0 * EncoderSweepCliTest.WEIGHTS / 8), plan.path("budget_bytes").asLong());
        assertEquals(36, plan.path("layers").size());
        assertEquals("stacked", plan.path("sensitivity").asText());
        assertTrue(plan.path("proxy").asText().startsWith("stacked: mean 1 - cosine"), plan.path("proxy").asText());
        double m = mixed.path("embedding_cosine_mean").asDouble();
        double three = row(j, "rtn bits=3 group-size=64").path("embedding_cosine_mean").asDouble();
        assertTrue(m > three, "more bits than rtn 3 everywhere, a better embedding: " + m + " vs " + three);
    }
}
