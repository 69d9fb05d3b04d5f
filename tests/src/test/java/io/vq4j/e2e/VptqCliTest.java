package io.vq4j.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.testing.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vq export --format vptq} end to end on stories260K: a --method vptq packed model (residual
 * stage, perm, norm) exported as a VPTQ checkpoint directory evaluates to the same perplexity as
 * the packed model (the import decodes to the same weights), the config carries
 * quant_method "vptq"; a checkpoint with a layer's tensor missing exits 2 with one line naming it; a layout the format cannot express (residual stages on outliers) exits 2
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

        // a tensor of a VPTQ layer missing (renamed in the header, same length): one line naming it, exit 2
        Path broken = dir.resolve("broken");
        Files.createDirectories(broken);
        try (var s = Files.list(out)) {
            for (Path p : s.toList()) {
                Files.copy(p, broken.resolve(p.getFileName()));
            }
        }
        Path st = broken.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(st);
        String header = new String(bytes, 8, (int) ByteBuffer.wrap(bytes, 0, 8)
                .order(ByteOrder.LITTLE_ENDIAN).getLong(), StandardCharsets.UTF_8);
        String tensor = "model.layers.0.self_attn.q_proj.indices";
        int at = header.indexOf("\"" + tensor + "\"");
        assertTrue(at > 0, "no " + tensor + " in the export's header");
        bytes[8 + at + tensor.length()] = 'z'; // ...indicez
        Files.write(st, bytes);
        CliEndToEndTest.Run m = CliEndToEndTest.vq("eval", "ppl", "--model", broken.toString(), "--text",
                SharedData.file("tinystories/tinystories_val.txt").toString(), "--limit-bytes", "2000");
        assertEquals(2, m.code(), m.err());
        assertTrue(m.err().contains("VPTQ tensor '" + tensor + "' is missing"), m.err());
        assertEquals(1, m.err().strip().lines().count(), m.err());

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
