package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** vq export --format gguf and every command that takes a model, on a GGUF file, as a user runs them. */
class GgufCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path work;
    static Path f32;
    static JsonNode ref;

    @BeforeAll
    static void export() throws IOException {
        ref = JSON.readTree(SharedData.referenceOutputs().toFile());
        f32 = work.resolve("stories260K-f32.gguf");
        CliEndToEndTest.Run r = CliEndToEndTest.vq("export", "--format", "gguf", "--type", "f32", "--model",
                SharedData.stories260K().toString(), "--out", f32.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("wrote " + f32 + ": GGUF v3, llama, 47 tensors"), r.out());
    }

    @Test
    void anF32GgufEvaluatesAndGeneratesLikeTheCheckpoint() throws IOException {
        CliEndToEndTest.Run r = CliEndToEndTest.vq("eval", "ppl", "--model", f32.toString(), "--text",
                SharedData.tinyStoriesVal().toString(), "--limit-bytes", "39753", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode p = ref.get("perplexity_tinystories");
        assertEquals(p.get("ppl").asDouble(), r.json().get("ppl").asDouble(), 0.001);
        assertEquals(p.get("n_tokens").asInt(), r.json().get("n_tokens").asInt());
        CliEndToEndTest.Run g = CliEndToEndTest.vq("generate", "--model", f32.toString(), "--temperature", "0",
                "--max-tokens", "256", "--json");
        assertEquals(0, g.code(), g.err());
        assertEquals(ref.get("greedy_from_bos").get("text").asText(), g.json().get("text").asText());
    }

    @Test
    void inspectListsTheGgufTensors() throws IOException {
        Path q4 = work.resolve("q4_0.gguf");
        CliEndToEndTest.Run e = CliEndToEndTest.vq("export", "--type", "q4_0", "--model",
                SharedData.stories260K().toString(), "--out", q4.toString());
        assertEquals(0, e.code(), e.err());
        assertTrue(e.out().contains("stored as f16 (rows not whole q4_0 blocks): blk.0.ffn_down.weight"), e.out());
        CliEndToEndTest.Run r = CliEndToEndTest.vq("inspect", q4.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals(260_032, r.json().get("parameters").asLong());
        assertEquals(64, r.json().get("config").get("dim").asInt());
        JsonNode first = r.json().get("tensors").get(0);
        assertEquals("token_embd.weight", first.get("name").asText());
        assertEquals("Q4_0", first.get("dtype").asText());
        assertEquals("[512,64]", first.get("shape").toString());
        assertEquals(512 * 64 / 32 * 18, first.get("bytes").asLong());
    }

    @Test
    void aGgufIsAQuantizeSourceAndAPackedModelExportsToGguf() throws IOException {
        Path packed = work.resolve("rtn");
        CliEndToEndTest.Run q = CliEndToEndTest.vq("quantize", "--model", f32.toString(), "--calib",
                SharedData.tinyStoriesVal().toString(), "--calib-samples", "4", "--calib-len", "64", "--method", "rtn",
                "--bits", "4", "--group-size", "32", "--out", packed.toString());
        assertEquals(0, q.code(), q.err());
        Path out = work.resolve("rtn-q8_0.gguf");
        CliEndToEndTest.Run e = CliEndToEndTest.vq("export", "--type", "q8_0", "--model", packed.toString(), "--out",
                out.toString());
        assertEquals(0, e.code(), e.err());
        CliEndToEndTest.Run p = CliEndToEndTest.vq("eval", "ppl", "--model", out.toString(), "--text",
                SharedData.tinyStoriesVal().toString(), "--limit-bytes", "8000", "--json");
        assertEquals(0, p.code(), p.err());
        assertTrue(p.json().get("ppl").asDouble() < 6, p.out());
    }

    /**
     * --method gptq on stories260K: every decoder linear reported, the file the same size as the
     * rounded one (the same types), and it evaluates as a model.
     */
    @Test
    void gptqOntoTheGridWritesAGgufOfTheSameTypes() throws IOException {
        String model = SharedData.stories260K().toString();
        Path rtn = work.resolve("rtn-q4_1.gguf");
        Path gptq = work.resolve("gptq-q4_1.gguf");
        assertEquals(0, CliEndToEndTest.vq("export", "--type", "q4_1", "--model", model, "--out", rtn.toString())
                .code());
        CliEndToEndTest.Run e = CliEndToEndTest.vq("export", "--type", "q4_1", "--method", "gptq", "--calib",
                SharedData.tinyStoriesVal().toString(), "--calib-samples", "4", "--calib-len", "64", "--model", model,
                "--out", gptq.toString());
        assertEquals(0, e.code(), e.err());
        assertEquals(35, e.out().lines().filter(l -> l.contains(" gptq onto ")).count(), e.out());
        assertTrue(e.out().contains("blk.4.ffn_down.weight") && e.out().contains("gptq onto f16"), e.out());
        assertTrue(e.out().contains("2-D weights q4_1 (gptq onto the grid)"), e.out());
        assertEquals(Files.size(rtn), Files.size(gptq));
        CliEndToEndTest.Run p = CliEndToEndTest.vq("eval", "ppl", "--model", gptq.toString(), "--text",
                SharedData.tinyStoriesVal().toString(), "--limit-bytes", "8000", "--json");
        assertEquals(0, p.code(), p.err());
        assertTrue(p.json().get("ppl").asDouble() < 6, p.out());
    }

    @Test
    void badInputGivesOneLineAndExitCode2() throws IOException {
        byte[] good = Files.readAllBytes(f32);
        Path cut = work.resolve("cut.gguf");
        Files.write(cut, Arrays.copyOf(good, good.length / 3));
        Path junk = work.resolve("junk.gguf");
        Files.writeString(junk, "this is not a model at all, just text in a file named .gguf");
        String model = SharedData.stories260K().toString();
        String text = SharedData.tinyStoriesVal().toString();
        List<String[]> cases = List.of(
                new String[] {"eval", "ppl", "--model", cut.toString(), "--text", text},
                new String[] {"eval", "ppl", "--model", junk.toString(), "--text", text},
                new String[] {"generate", "--model", cut.toString()},
                new String[] {"inspect", junk.toString()},
                new String[] {"quantize", "--model", cut.toString(), "--calib", text, "--method", "rtn", "--out",
                        work.resolve("never").toString()},
                new String[] {"export", "--type", "q5_k", "--model", model, "--out", work.resolve("x.gguf").toString()},
                new String[] {"export", "--format", "onnx", "--type", "f32", "--model", model, "--out",
                        work.resolve("x.gguf").toString()},
                new String[] {"export", "--type", "f32", "--model", model, "--out", work.resolve("x.bin").toString()},
                new String[] {"export", "--type", "q4_0", "--method", "gptq", "--model", model, "--out",
                        work.resolve("x.gguf").toString()},
                new String[] {"export", "--type", "f16", "--method", "gptq", "--calib", text, "--model", model,
                        "--out", work.resolve("x.gguf").toString()},
                new String[] {"export", "--type", "q4_0", "--method", "awq", "--model", model, "--out",
                        work.resolve("x.gguf").toString()},
                new String[] {"export", "--type", "q4_0", "--calib", text, "--model", model, "--out",
                        work.resolve("x.gguf").toString()},
                new String[] {"export", "--type", "q4_0", "--method", "gptq", "--calib", text, "--calib-samples", "0",
                        "--model", model, "--out", work.resolve("x.gguf").toString()});
        for (String[] c : cases) {
            CliEndToEndTest.Run r = CliEndToEndTest.vq(c);
            String what = String.join(" ", c);
            assertEquals(2, r.code(), what + " → " + r.err());
            assertEquals(1, r.err().lines().count(), what + " → " + r.err());
            assertTrue(r.err().startsWith("vq: "), r.err());
            assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
        }
        assertFalse(Files.exists(work.resolve("x.gguf")) || Files.exists(work.resolve("x.bin")), "nothing written");
    }
}
