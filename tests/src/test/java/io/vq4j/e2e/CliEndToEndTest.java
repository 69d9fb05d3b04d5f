package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.cli.VqMain;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The vq CLI on the real stories260K model, as a user runs it. */
class CliEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path work;
    static Path hfDir;
    static JsonNode ref;

    record Run(int code, String out, String err) {
        JsonNode json() throws IOException {
            return JSON.readTree(out);
        }
    }

    static Run vq(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = VqMain.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @BeforeAll
    static void convert() throws IOException {
        ref = JSON.readTree(SharedData.referenceOutputs().toFile());
        hfDir = work.resolve("stories260K-hf");
        Run r = vq("convert", "--model", SharedData.stories260K().toString(), "--out", hfDir.toString());
        assertEquals(0, r.code, r.err);
    }

    private static void assertReferencePerplexity(String model) throws IOException {
        Run r = vq("eval", "ppl", "--model", model, "--text", SharedData.tinyStoriesVal().toString(),
                "--limit-bytes", "39753", "--json");
        assertEquals(0, r.code, r.err);
        JsonNode j = r.json();
        JsonNode p = ref.get("perplexity_tinystories");
        assertEquals(p.get("ppl").asDouble(), j.get("ppl").asDouble(), 0.001);
        assertEquals(p.get("mean_nll").asDouble(), j.get("mean_nll").asDouble(), 1e-4);
        assertEquals(p.get("n_tokens").asInt(), j.get("n_tokens").asInt());
        assertEquals(p.get("n_predictions").asInt(), j.get("n_predictions").asInt());
        assertTrue(j.get("tokens_per_second").asDouble() > 0);
    }

    @Test
    void perplexityOfLlama2cCheckpointMatchesReference() throws IOException {
        assertReferencePerplexity(SharedData.stories260K().toString());
    }

    @Test
    void perplexityOfConvertedHfDirectoryMatchesReference() throws IOException {
        assertReferencePerplexity(hfDir.toString());
    }

    private static void assertGreedyReference(String model) throws IOException {
        Run r = vq("generate", "--model", model, "--temperature", "0", "--max-tokens", "256", "--json");
        assertEquals(0, r.code, r.err);
        JsonNode g = ref.get("greedy_from_bos");
        JsonNode ids = g.get("token_ids_including_bos");
        JsonNode got = r.json().get("tokens");
        assertEquals(ids.size() - 1, got.size());
        for (int i = 0; i < got.size(); i++) {
            assertEquals(ids.get(i + 1).asInt(), got.get(i).asInt(), "token " + i);
        }
        assertEquals(g.get("text").asText(), r.json().get("text").asText());
        assertEquals(1, r.json().get("prompt_tokens").size());
    }

    @Test
    void greedyGenerationFromLlama2cCheckpointMatchesReference() throws IOException {
        assertGreedyReference(SharedData.stories260K().toString());
    }

    @Test
    void greedyGenerationFromConvertedHfDirectoryMatchesReference() throws IOException {
        assertGreedyReference(hfDir.toString());
    }

    @Test
    void seededSamplingRepeats() throws IOException {
        String[] args = {"generate", "--model", hfDir.toString(), "--seed", "5", "--max-tokens", "30", "--json"};
        assertEquals(vq(args).json().get("tokens"), vq(args).json().get("tokens"));
    }

    @Test
    void inspectCountsParametersOfBothForms() throws IOException {
        Run hf = vq("inspect", hfDir.toString(), "--json");
        assertEquals(0, hf.code, hf.err);
        assertEquals(260_032, hf.json().get("parameters").asLong());
        assertEquals(4 * 260_032, hf.json().get("tensor_bytes").asLong());
        Run bin = vq("inspect", SharedData.stories260K().toString(), "--json");
        assertEquals(0, bin.code, bin.err);
        assertEquals(Files.size(SharedData.stories260K()) - 28, bin.json().get("tensor_bytes").asLong());
    }

    @Test
    void convertRefusesANonEmptyTargetAndLeavesItUntouched() throws IOException {
        Run r = vq("convert", "--model", SharedData.stories260K().toString(), "--out", hfDir.toString());
        assertEquals(2, r.code);
        assertTrue(r.err.contains("not empty"), r.err);
    }

    @Test
    void badInputGivesOneLineAndExitCode2() throws IOException {
        Path corrupt = work.resolve("corrupt");
        Files.createDirectories(corrupt);
        Files.copy(hfDir.resolve("config.json"), corrupt.resolve("config.json"));
        Files.copy(hfDir.resolve("tokenizer.json"), corrupt.resolve("tokenizer.json"));
        byte[] st = Files.readAllBytes(hfDir.resolve("model.safetensors"));
        Files.write(corrupt.resolve("model.safetensors"), java.util.Arrays.copyOf(st, st.length / 2));
        String text = SharedData.tinyStoriesVal().toString();
        List<String[]> cases = List.of(
                new String[] {"eval", "ppl", "--model", work.resolve("missing").toString(), "--text", text},
                new String[] {"eval", "ppl", "--model", corrupt.toString(), "--text", text},
                new String[] {"eval", "ppl", "--model", hfDir.toString(), "--text", text, "--ctx", "1"},
                new String[] {"eval", "ppl", "--model", hfDir.toString(), "--text", text, "--ctx", "abc"},
                new String[] {"eval", "ppl", "--model", hfDir.toString(), "--text", work.resolve("none.txt").toString()},
                new String[] {"generate", "--model", hfDir.toString(), "--top-p", "0"},
                new String[] {"convert", "--model", hfDir.toString(), "--out", work.resolve("x").toString(), "--dtype", "f8"},
                new String[] {"inspect", work.resolve("missing").toString()},
                new String[] {"frobnicate"});
        for (String[] c : cases) {
            Run r = vq(c);
            String what = String.join(" ", c);
            assertEquals(2, r.code, what + " → " + r.err);
            assertEquals(1, r.err.lines().count(), what + " → " + r.err);
            assertTrue(r.err.startsWith("vq: "), r.err);
            assertFalse(r.err.contains("Exception") || r.err.contains("\tat "), r.err);
        }
        assertFalse(Files.exists(work.resolve("x")), "nothing written for a refused convert");
    }

    @Test
    void realLaunchExitsWith2AndNoStackTrace() throws Exception {
        Path jar = Path.of("..", "cli", "target", "vq.jar").toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(jar), "the fat jar is built before this module's tests: " + jar);
        Path bad = work.resolve("bad.safetensors");
        Files.write(bad, "\u0010\0\0\0\0\0\0\0{not json}      ".getBytes(StandardCharsets.ISO_8859_1));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-jar", jar.toString(), "inspect", bad.toString()));
        Process p = new ProcessBuilder(cmd).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, p.exitValue(), err);
        List<String> lines = err.lines().filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
        assertEquals(1, lines.size(), err);
        assertTrue(lines.get(0).contains(bad.toString()) && lines.get(0).contains("not valid JSON"), err);
    }
}
