package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.SyntheticModel;
import io.vq4j.testing.SharedData;
import io.vq4j.testing.SyntheticCheckpoints;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `vq quantize`, `vq inspect`, `vq dequantize` and evaluation of packed models, as a user runs them. */
class QuantizeCliTest {
    static final String MODEL = SharedData.stories260K().toString();
    static final String CALIB = SharedData.file("tinystories/tinystories_val.txt").toString();

    static CliEndToEndTest.Run vq(String... args) {
        return CliEndToEndTest.vq(args);
    }

    static double ppl(Path model) throws Exception {
        CliEndToEndTest.Run r = vq("eval", "ppl", "--model", model.toString(), "--text", CALIB, "--limit-bytes", "20000",
                "--json");
        assertEquals(0, r.code(), r.err());
        return r.json().path("ppl").asDouble();
    }

    @Test
    void quantizeInspectEvaluateDequantize(@TempDir Path dir) throws Exception {
        Path q = dir.resolve("rtn4");
        CliEndToEndTest.Run r = vq("quantize", "--model", MODEL, "--calib", CALIB, "--method", "rtn", "--bits", "4",
                "--group-size", "32", "--calib-samples", "4", "--calib-len", "64", "--out", q.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(35 + 1, r.out().lines().count(), "one log line per layer and a summary: " + r.out());
        assertTrue(r.out().lines().findFirst().orElseThrow()
                .matches("model\\.layers\\.0\\.self_attn\\.q_proj +64x64 +rtn +true [0-9.]+ bpw  H-err .*s"), r.out());
        assertTrue(Files.isRegularFile(q.resolve("quantize-report.json")));
        assertTrue(Files.readString(q.resolve("quantize-report.md")).contains("| model.layers.4.mlp.down_proj | 64x172 | rtn |"));

        JsonNode ins = vq("inspect", q.toString(), "--json").json();
        assertEquals(4.0, ins.path("nominal_bits_per_weight").asDouble(), 1e-12);
        double trueBpw = ins.path("true_bits_per_weight").asDouble();
        // 4-bit codes + an fp16 scale and a 4-bit zero per 32 weights = 4.625, plus headers and layouts
        assertTrue(trueBpw > 4.625 && trueBpw < 6.5, "true bpw " + trueBpw);
        assertEquals(35, ins.path("layers").size());

        double fp = ppl(SharedData.stories260K());
        double packed = ppl(q);
        assertTrue(packed > fp && packed < fp * 1.25, "4-bit rtn costs a little: " + fp + " -> " + packed);

        Path plain = dir.resolve("plain");
        r = vq("dequantize", q.toString(), plain.toString());
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.readString(plain.resolve("config.json")).contains("quantization_config"));
        assertEquals(packed, ppl(plain), 0.0, "the dequantized model is the packed model");
    }

    @Test
    void sharedCodebooksAreStoredOnceAndCountedByInspect(@TempDir Path dir) throws Exception {
        Path q = dir.resolve("shared");
        CliEndToEndTest.Run r = vq("quantize", "--model", MODEL, "--calib", CALIB, "--method", "kmeans", "--dim", "4",
                "--centroids", "256", "--share-codebooks", "kind", "--calib-samples", "4", "--calib-len", "64",
                "--out", q.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("shared codebooks 14,336 bytes"), r.out());
        JsonNode ins = vq("inspect", q.toString(), "--json").json();
        // seven 256 x 4 fp16 codebooks, one per kind of layer, stored once
        assertEquals(7 * 256 * 4 * 2, ins.path("shared_codebook_bytes").asLong());
        long tensors = 0;
        for (JsonNode t : ins.path("tensors")) {
            tensors += t.path("name").asText().startsWith("vq4j.shared.") ? 1 : 0;
        }
        assertEquals(7, tensors);
        // per layer: 2 bits of indices + its layout (with its CRC32Cs), no codebook (256 x 4 fp16 = 2,048 bytes)
        for (JsonNode l : ins.path("layers")) {
            long weights = l.path("shape").get(0).asLong() * l.path("shape").get(1).asLong();
            long overhead = l.path("bytes").asLong() - weights * 2 / 8;
            assertTrue(overhead > 0 && overhead < 256 * 4 * 2, l.toString());
        }
        assertTrue(vq("inspect", q.toString()).out().contains("shared codebooks: 14,336 bytes, stored once"));
        double fp = ppl(SharedData.stories260K());
        double packed = ppl(q);
        assertTrue(packed > fp, fp + " -> " + packed);
        Path plain = dir.resolve("plain");
        assertEquals(0, vq("dequantize", q.toString(), plain.toString()).code());
        assertEquals(packed, ppl(plain), 0.0, "the dequantized model is the packed model");
    }

    @Test
    void badQuantizeArgumentsExit2WithOneLineAndWriteNothing(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        Path tiny = Files.writeString(dir.resolve("tiny.txt"), "One day a cat sat.\n");
        String[][] cases = {
                {"--method", "awq"},
                {"--method", "kmeans", "--bits", "3"},
                {"--method", "rtn", "--centroids", "16"},
                {"--method", "kmeans", "--dim", "3"},
                {"--method", "kmeans", "--dim", "2", "--centroids", "65536"},
                {"--method", "rtn", "--bits", "9"},
                {"--method", "rtn", "--calib-len", "4096"},
                {"--method", "rtn", "--device", "tpu"},
                {"--method", "rtn", "--calib", tiny.toString()},
                {"--method", "rtn", "--share-codebooks", "kind"},
                {"--method", "kmeans", "--share-codebooks", "layers"},
                {"--method", "kmeans", "--dim", "4", "--centroids", "4096", "--share-codebooks", "kind"},
                {"--method", "gptvq", "--group-size", "32", "--share-codebooks", "all"},
        };
        for (String[] c : cases) {
            List<String> args = new ArrayList<>(List.of("quantize", "--model", MODEL, "--out", out.toString()));
            if (!List.of(c).contains("--calib")) {
                args.addAll(List.of("--calib", CALIB));
            }
            args.addAll(List.of(c));
            CliEndToEndTest.Run r = vq(args.toArray(String[]::new));
            String what = String.join(" ", c);
            assertEquals(2, r.code(), what + " -> " + r.err());
            assertEquals(1, r.err().lines().count(), what + " -> " + r.err());
            assertTrue(r.err().startsWith("vq: "), r.err());
            assertFalse(r.err().contains("Exception"), r.err());
            assertFalse(Files.exists(out), what + ": nothing written");
        }
    }

    /**
     * Memory grows with a block, not with the model: a synthetic checkpoint of ~260 MiB of f32
     * weights is quantized by a JVM whose heap is 128 MiB.
     */
    @Test
    void aModelLargerThanTheHeapIsQuantizedBlockByBlock(@TempDir Path dir) throws Exception {
        LlamaConfig c = SyntheticModel.config(512, 1536, 20, 8, 4, 512, 256);
        Path model = dir.resolve("synth");
        SyntheticCheckpoints.writeHeavyTailed(c, 11, model);
        long weightBytes;
        try (Stream<Path> s = Files.list(model)) {
            weightBytes = s.filter(p -> p.toString().endsWith(".safetensors")).mapToLong(p -> p.toFile().length()).sum();
        }
        long heap = 128L << 20;
        assertTrue(weightBytes > heap * 3 / 2, "weights " + weightBytes + " bytes exceed the heap");
        Path jar = Path.of("..", "cli", "target", "vq.jar").toAbsolutePath().normalize();
        Path out = dir.resolve("q");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + (heap >> 20) + "m", "--add-modules", "jdk.incubator.vector", "-jar", jar.toString(),
                "quantize", "--model", model.toString(), "--tokenizer", SharedData.tok512().toString(),
                "--calib", CALIB, "--method", "rtn", "--bits", "4", "--group-size", "128",
                "--calib-samples", "4", "--calib-len", "128", "--out", out.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), log);
        assertTrue(log.contains("model.layers.19.mlp.down_proj"), log);
        JsonNode ins = vq("inspect", out.toString(), "--json").json();
        assertEquals(20 * 7, ins.path("layers").size());
    }
}
