package io.vq4j.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vq export --format vptq} end to end on stories260K: a --method vptq packed model (residual
 * stage, perm, norm) exported as a VPTQ checkpoint directory evaluates to the same perplexity as
 * the packed model (the import decodes to the same weights), the config carries
 * quant_method "vptq"; a layout the format cannot express (residual stages on outliers) exits 2
 * with one line and leaves nothing behind.
 */
class VptqCliTest {
    @Test
    void exportedVptqCheckpointEvaluatesAsThePackedModel(@TempDir Path dir) throws IOException {
        Path packed = DeviceCliTest.quantize(dir.resolve("packed"), "cpu", "--method", "vptq", "--dim", "4",
                "--centroids", "64", "--residual-centroids", "16", "--perm", "--norm");
        Path out = dir.resolve("vptq");
        CliEndToEndTest.Run r = CliEndToEndTest.vq("export", "--format", "vptq", "--model", packed.toString(), "--out",
                out.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode qc = new ObjectMapper().readTree(out.resolve("config.json").toFile()).path("quantization_config");
        assertEquals("vptq", qc.path("quant_method").asText());
        assertEquals(35, qc.path("config_for_layers").size());
        double a = DeviceCliTest.ppl(packed, "cpu").path("ppl").asDouble();
        double b = DeviceCliTest.ppl(out, "cpu").path("ppl").asDouble();
        assertTrue(a > 1 && a < 100, "packed ppl " + a);
        assertEquals(a, b, 0.0, "VPTQ checkpoint vs packed model");

        Path bad = DeviceCliTest.quantize(dir.resolve("outres"), "cpu", "--method", "vptq", "--dim", "4",
                "--centroids", "16", "--residual-centroids", "16", "--outlier-percent", "2");
        Path badOut = dir.resolve("refused");
        CliEndToEndTest.Run e = CliEndToEndTest.vq("export", "--format", "vptq", "--model", bad.toString(), "--out",
                badOut.toString());
        assertEquals(2, e.code(), e.err());
        assertTrue(e.err().contains("residual stages on its outlier columns"), e.err());
        assertEquals(1, e.err().strip().lines().count(), e.err());
        assertFalse(Files.exists(badOut));
        try (var s = Files.list(dir)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".refused")
                    || p.getFileName().toString().contains("refused.")), "temporary left behind");
        }
    }
}
