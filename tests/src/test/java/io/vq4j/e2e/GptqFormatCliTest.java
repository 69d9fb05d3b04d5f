package io.vq4j.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.testing.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vq export --format gptq} end to end on stories260K: a --method gptq packed model with
 * act-order exported as a GPTQ checkpoint directory (v1 and v2 zero points) evaluates to the same
 * perplexity as the packed model, and the config carries quant_method "gptq"; a source that is
 * not a packed model exits 2 with one line and writes nothing.
 */
class GptqFormatCliTest {
    @Test
    void exportedGptqCheckpointEvaluatesAsThePackedModel(@TempDir Path dir) throws IOException {
        Path packed = DeviceCliTest.quantize(dir.resolve("packed"), "cpu", "--method", "gptq", "--bits", "4",
                "--group-size", "32", "--act-order");
        double a = DeviceCliTest.ppl(packed, "cpu").path("ppl").asDouble();
        assertTrue(a > 1 && a < 100, "packed ppl " + a);
        for (String cf : new String[] {"gptq", "gptq_v2"}) {
            Path out = dir.resolve(cf);
            CliEndToEndTest.Run r = CliEndToEndTest.vq("export", "--format", "gptq", "--checkpoint-format", cf,
                    "--model", packed.toString(), "--out", out.toString());
            assertEquals(0, r.code(), r.err());
            JsonNode qc = new ObjectMapper().readTree(out.resolve("config.json").toFile()).path("quantization_config");
            assertEquals("gptq", qc.path("quant_method").asText());
            assertEquals(4, qc.path("bits").asInt());
            assertTrue(Files.exists(out.resolve("quantize_config.json")));
            double b = DeviceCliTest.ppl(out, "cpu").path("ppl").asDouble();
            assertEquals(a, b, 0.0, "GPTQ checkpoint (" + cf + ") vs packed model");
        }

        Path badOut = dir.resolve("refused");
        CliEndToEndTest.Run e = CliEndToEndTest.vq("export", "--format", "gptq", "--model",
                SharedData.stories260K().toString(), "--out", badOut.toString());
        assertEquals(2, e.code(), e.err());
        assertEquals(1, e.err().strip().lines().filter(l -> !l.startsWith("vq: device")).count(), e.err());
        assertFalse(Files.exists(badOut));
    }
}
