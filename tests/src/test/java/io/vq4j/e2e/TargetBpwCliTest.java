package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vq4j.cli.VqMain;
import io.vq4j.kernels.opencl.OpenCl;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `vq quantize --target-bpw B` on stories260K, as a user runs it: the files' true bits/weight
 * (as `vq inspect` counts them) within the budget, the report's per-layer choice equal to the
 * packed layouts, a halted run resumed to the same bytes, and the mixed model working in `eval`,
 * `inspect --verify`, `dequantize` and `eval --device opencl`.
 */
class TargetBpwCliTest {
    static final String MODEL = SharedData.stories260K().toString();
    static final String CALIB = SharedData.tinyStoriesVal().toString();
    static final String CANDIDATES = "rtn:bits=2,3,4,group-size=32;kmeans:dim=2,centroids=16,iters=5";
    static final double BPW = 3.6;
    private static final int HALTED = 86; // HaltPoint.EXIT

    @TempDir
    static Path work;
    static Path whole;
    static CliEndToEndTest.Run wholeRun;

    static List<String> args(Path out) {
        return List.of("quantize", "--model", MODEL, "--calib", CALIB, "--target-bpw", String.valueOf(BPW),
                "--candidates", CANDIDATES, "--calib-samples", "4", "--calib-len", "64", "--seed", "3",
                "--out", out.toString());
    }

    @BeforeAll
    static void quantize() {
        whole = work.resolve("whole");
        wholeRun = CliEndToEndTest.vq(args(whole).toArray(String[]::new));
        assertEquals(0, wholeRun.code(), wholeRun.err());
    }

    static double ppl(Path model, String device) throws IOException {
        CliEndToEndTest.Run r = CliEndToEndTest.vq("eval", "ppl", "--model", model.toString(), "--text", CALIB,
                "--limit-bytes", "12000", "--device", device, "--json");
        assertEquals(0, r.code(), r.err());
        return r.json().path("ppl").asDouble();
    }

    @Test
    void theTrueBitsAreWithinTheBudgetAndTheReportMatchesTheLayouts() throws Exception {
        JsonNode ins = CliEndToEndTest.vq("inspect", whole.toString(), "--json").json();
        double trueBpw = ins.path("true_bits_per_weight").asDouble();
        assertTrue(trueBpw <= BPW, "vq inspect's true bits " + trueBpw + " > " + BPW);
        assertTrue(trueBpw > BPW - 0.25, "the budget is spent, not left: " + trueBpw);
        JsonNode report = new com.fasterxml.jackson.databind.ObjectMapper().readTree(whole.resolve("quantize-report.json").toFile());
        assertEquals("mixed", report.path("method").asText());
        JsonNode plan = report.path("target_bpw_plan");
        assertEquals(BPW, plan.path("target_bpw").asDouble());
        assertEquals("stacked", plan.path("sensitivity").asText(), "the default predicted loss");
        assertTrue(plan.path("proxy").asText().startsWith("stacked: mean KL"), plan.path("proxy").asText());
        assertEquals(trueBpw, plan.path("predicted_true_bits_per_weight").asDouble(), 1e-12,
                "the plan predicted the files' true bits exactly");
        Map<String, JsonNode> layouts = new HashMap<>();
        ins.path("layers").forEach(l -> layouts.put(l.path("name").asText(), l));
        assertEquals(35, plan.path("layers").size());
        Set<String> methods = new HashSet<>();
        for (JsonNode l : plan.path("layers")) {
            JsonNode packed = layouts.get(l.path("name").asText());
            String config = l.path("config").asText();
            String method = config.substring(0, config.indexOf(' '));
            assertEquals(method, packed.path("method").asText(), l.path("name").asText());
            assertEquals(l.path("bytes").asLong(), packed.path("bytes").asLong(), l.path("name").asText());
            if (method.equals("rtn")) { // rtn bits=B group-size=32: B bits per code
                assertEquals(Double.parseDouble(config.replaceAll(".*bits=([0-9]+).*", "$1")),
                        packed.path("nominal_bits_per_weight").asDouble(), 1e-12, l.path("name").asText());
            }
            methods.add(method);
        }
        assertEquals(Set.of("rtn", "kmeans"), methods, "a mixed model: " + methods);
        // the printed summary: every layer's choice, the predicted loss, the files' true bits
        assertTrue(wholeRun.out().contains("per-layer choice (--target-bpw 3.6"), wholeRun.out());
        assertTrue(wholeRun.out().lines().anyMatch(s -> s.startsWith("  model.layers.4.mlp.down_proj ")), wholeRun.out());
        assertTrue(wholeRun.out().contains(String.format(java.util.Locale.ROOT, "true %.4f bits/weight", trueBpw)),
                wholeRun.out());
        assertTrue(wholeRun.out().contains("predicted loss"), wholeRun.out());
        assertTrue(Files.readString(whole.resolve("quantize-report.md")).contains("## --target-bpw 3.6"));
    }

    @Test
    void theMixedModelEvaluatesVerifiesAndDequantizes() throws Exception {
        CliEndToEndTest.Run v = CliEndToEndTest.vq("inspect", whole.toString(), "--verify");
        assertEquals(0, v.code(), v.err());
        double fp = ppl(SharedData.stories260K(), "cpu");
        double mixed = ppl(whole, "cpu");
        // the cheapest candidate everywhere (rtn 2 bits, about 2.9 true bits/weight) is the floor it must beat
        Path cheap = work.resolve("rtn2");
        CliEndToEndTest.Run q = CliEndToEndTest.vq("quantize", "--model", MODEL, "--calib", CALIB, "--method", "rtn",
                "--bits", "2", "--group-size", "32", "--calib-samples", "4", "--calib-len", "64", "--out",
                cheap.toString());
        assertEquals(0, q.code(), q.err());
        double floor = ppl(cheap, "cpu");
        assertTrue(mixed > fp && mixed < floor, "fp " + fp + ", mixed " + mixed + ", rtn 2 bits " + floor);
        Path plain = work.resolve("plain");
        CliEndToEndTest.Run d = CliEndToEndTest.vq("dequantize", whole.toString(), plain.toString());
        assertEquals(0, d.code(), d.err());
        assertEquals(mixed, ppl(plain, "cpu"), 0.0, "the dequantized model is the mixed model");
    }

    @Test
    void theMixedModelRunsOnOpenCl() throws Exception {
        if (!"1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
            assumeTrue(!OpenCl.devices().isEmpty(), "no OpenCL device: " + OpenCl.unavailableReason());
        }
        double cpu = ppl(whole, "cpu");
        double cl = ppl(whole, "opencl");
        assertEquals(cpu, cl, cpu * 1e-3, "every packed layout of the mixed model on the device, within 0.1 %");
    }

    @Test
    void haltedAfterTheFirstBlocksItResumesWithTheRecordedChoiceToTheSameBytes() throws Exception {
        Path out = work.resolve("halted");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss8m",
                // C2 left on: the stacked probe's forward passes use the Vector API, which C1 does not compile
                "-cp", System.getProperty("java.class.path"),
                "-Dvq4j.halt-at=block-2-record", VqMain.class.getName()));
        cmd.addAll(args(out));
        Path log = work.resolve("halted.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the child ended");
        assertEquals(HALTED, p.exitValue(), Files.readString(log));
        assertFalse(Files.exists(out.resolve("config.json")), "an unfinished directory never looks complete");
        CliEndToEndTest.Run r = CliEndToEndTest.vq(args(out).toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("using the per-layer choice recorded in"), "not measured again: " + r.err());
        Map<String, byte[]> a = KillResumeCliTest.files(whole);
        Map<String, byte[]> b = KillResumeCliTest.files(out);
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k), b.get(k), k);
        }
    }

    @Test
    void badValuesAreOneLineAndExitTwo() {
        Path out = work.resolve("bad");
        List<String[]> cases = List.of(
                new String[]{"--target-bpw", "1.5", "--candidates", CANDIDATES},
                new String[]{"--target-bpw", "-1"},
                new String[]{"--target-bpw", "4", "--method", "rtn"},
                new String[]{"--target-bpw", "4", "--bits", "3"},
                new String[]{"--method", "rtn", "--candidates", CANDIDATES},
                new String[]{"--target-bpw", "4", "--candidates", "rtn:bits=2;kmeans:dim=2,centroids=16,"
                        + "share-codebooks=kind"},
                new String[]{"--target-bpw", "4", "--candidates", "rtn:bitz=2"},
                new String[]{"--target-bpw", "4", "--sensitivity", "cosine"},
                new String[]{"--method", "rtn", "--sensitivity", "h-error"});
        List<String> firstWords = new ArrayList<>();
        for (String[] c : cases) {
            List<String> a = new ArrayList<>(List.of("quantize", "--model", MODEL, "--calib", CALIB,
                    "--calib-samples", "2", "--calib-len", "32", "--out", out.toString()));
            a.addAll(List.of(c));
            CliEndToEndTest.Run r = CliEndToEndTest.vq(a.toArray(String[]::new));
            assertEquals(2, r.code(), String.join(" ", c) + ": " + r.out() + r.err());
            // one line of error; before it, at most the measuring pass's progress (an infeasible
            // budget is known once the candidates' sizes are)
            List<String> lines = r.err().strip().lines().toList();
            for (String l : lines.subList(0, lines.size() - 1)) {
                assertTrue(l.startsWith("vq: measur"), String.join(" ", c) + ": progress only before the error: " + l);
            }
            assertFalse(r.err().contains("Exception"), r.err());
            firstWords.add(lines.getLast());
            assertFalse(Files.exists(out), String.join(" ", c) + ": nothing written");
        }
        assertTrue(firstWords.get(0).matches(".*--target-bpw 1\\.5: below the cheapest candidate on every layer,"
                + " which takes [0-9]\\.[0-9]{4} bits/weight.*"), firstWords.get(0));
        assertTrue(firstWords.get(1).contains("--target-bpw: must be a positive number"), firstWords.get(1));
        assertTrue(firstWords.get(3).contains("--bits: not with --target-bpw"), firstWords.get(3));
        assertTrue(firstWords.get(5).contains("shares codebooks"), firstWords.get(5));
        assertTrue(firstWords.get(6).contains("--candidates: 'rtn:bitz=2'"), firstWords.get(6));
        assertTrue(firstWords.get(7).contains("--sensitivity: must be h-error or stacked"), firstWords.get(7));
    }
}
