package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `vq quantize` killed for real (issue 21): a second JVM runs the CLI and halts itself at a named
 * point ({@code -Dvq4j.halt-at}, Runtime.halt: no cleanup runs, as with kill -9) or is killed
 * with SIGKILL at a random time; the same command run again must end with the bytes of an
 * uninterrupted run (the reports too, but for their timings), no temporaries, no checkpoint
 * record and no lock file. stories260K with a small gptq, so the whole suite takes well under
 * a minute.
 */
class KillResumeCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** HaltPoint.EXIT: the child reached its point. */
    private static final int HALTED = 86;
    /**
     * The phase boundaries of a 5-block run, in the order the run reaches them: the first
     * record (its temporary, then it), the first block (its shard unrecorded: the old dead end;
     * then recorded), a middle block's unrecorded shard, the last block's record, and each step
     * of the finish (the last shard, the tokenizer, a temporary of the index and of config.json,
     * config.json written but the record not yet removed). Points between like ones (the other
     * blocks, the reports) run the same code and are left out to keep the suite within a minute.
     */
    private static final List<String> POINTS = List.of("partial-.vq4j-quantize-state.json", "start",
            "block-0-shard", "block-0-record", "block-3-shard", "block-4-record",
            "finish-model-00006-of-00006.safetensors", "finish-tokenizer", "partial-model.safetensors.index.json",
            "partial-config.json", "finish-config.json");
    @TempDir
    static Path work;
    static Map<String, byte[]> whole;
    static double wholeSeconds;

    private static List<String> args(Path model, Path out) {
        return List.of("quantize", "--model", model.toString(), "--tokenizer", SharedData.tok512().toString(),
                "--calib", SharedData.tinyStoriesVal().toString(),
                "--method", "gptq", "--bits", "3", "--group-size", "16", "--calib-samples", "2", "--calib-len", "32",
                "--seed", "7", "--out", out.toString());
    }

    /** A second JVM running the CLI, its output in {@code log}. */
    private record Child(Process process, Path log) {
        /** Its exit code; a failure (neither 0, the halt nor SIGKILL's 137) with its output. */
        int exit() throws InterruptedException, IOException {
            assertTrue(process.waitFor(120, TimeUnit.SECONDS), "the child ended");
            int code = process.exitValue();
            if (code != 0 && code != HALTED && code != 137) {
                throw new AssertionError("the child failed with " + code + ": " + Files.readString(log));
            }
            return code;
        }
    }

    /** The CLI in a second JVM ({@link ChildVq}), writing into {@code out}. */
    private static Child child(Path model, Path out, String haltAt) throws IOException {
        Path log = out.resolveSibling(out.getFileName() + ".log");
        List<String> jvm = haltAt == null ? List.of() : List.of("-Dvq4j.halt-at=" + haltAt);
        return new Child(ChildVq.start(jvm, args(model, out), log), log);
    }

    @BeforeAll
    static void uninterrupted() throws Exception {
        Path out = work.resolve("whole");
        long t0 = System.nanoTime();
        assertEquals(0, child(SharedData.stories260K(), out, null).exit());
        wholeSeconds = (System.nanoTime() - t0) / 1e9;
        whole = files(out);
        assertTrue(whole.containsKey("config.json"), whole.keySet().toString());
    }

    /**
     * Every file of the directory, the reports without their timings (the only bytes the
     * "same bytes" promise leaves out: README, Guarantees).
     */
    static Map<String, byte[]> files(Path dir) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                byte[] b = Files.readAllBytes(p);
                if (n.equals("quantize-report.json")) {
                    JsonNode r = JSON.readTree(b);
                    for (JsonNode l : r.path("layers")) {
                        ((ObjectNode) l).remove("seconds");
                    }
                    b = r.toString().getBytes(StandardCharsets.UTF_8);
                } else if (n.equals("quantize-report.md")) {
                    b = new String(b, StandardCharsets.UTF_8).replaceAll("(?m)\\| [0-9.]+ \\|$", "| T |")
                            .getBytes(StandardCharsets.UTF_8);
                }
                m.put(n, b);
            }
        }
        return m;
    }

    /** Runs the command again in this process; it must finish with the uninterrupted run's bytes and nothing else. */
    private static void resumesToTheSameBytes(Path out, String what) throws IOException {
        CliEndToEndTest.Run r = CliEndToEndTest.vq(args(SharedData.stories260K(), out).toArray(String[]::new));
        assertEquals(0, r.code(), what + ": " + r.err());
        Map<String, byte[]> got = files(out);
        assertEquals(whole.keySet(), got.keySet(), what + ": the same files, no temporaries, no checkpoint record");
        for (String k : whole.keySet()) {
            assertArrayEquals(whole.get(k), got.get(k), what + ": " + k);
        }
        try (Stream<Path> s = Files.list(out.getParent())) {
            List<String> beside = s.map(p -> p.getFileName().toString())
                    .filter(n -> n.startsWith("." + out.getFileName())).toList();
            assertEquals(List.of(), beside, what + ": no lock file or temporary beside the directory");
        }
    }

    @Test
    void haltedAtEveryPhaseBoundaryItResumesToTheSameBytes() throws Exception {
        for (int i = 0; i < POINTS.size(); i += 2) { // two children at a time
            List<String> points = POINTS.subList(i, Math.min(POINTS.size(), i + 2));
            List<Child> children = new ArrayList<>();
            for (String point : points) {
                children.add(child(SharedData.stories260K(), work.resolve("halt-" + point), point));
            }
            for (int j = 0; j < points.size(); j++) {
                assertEquals(HALTED, children.get(j).exit(), points.get(j) + ": the run reached the point and halted"
                        + " there");
            }
            for (String point : points) {
                Path out = work.resolve("halt-" + point);
                assertFalse(Files.exists(out.resolve("config.json")) && !point.equals("finish-config.json"),
                        point + ": an unfinished directory never looks complete");
                resumesToTheSameBytes(out, point);
            }
        }
    }

    @Test
    void killedAtRandomTimesItResumesToTheSameBytes() throws Exception {
        Random rnd = new Random(21);
        int killed = 0;
        for (int i = 0; i < 3; i++) {
            Path out = work.resolve("kill-" + i);
            long delayMs = (long) (wholeSeconds * 1000 * (0.3 + 0.6 * rnd.nextDouble()));
            Child c = child(SharedData.stories260K(), out, null);
            if (!c.process().waitFor(delayMs, TimeUnit.MILLISECONDS)) {
                c.process().destroyForcibly(); // SIGKILL
                killed++;
            }
            c.exit();
            if (Files.exists(out)) {
                resumesToTheSameBytes(out, "killed after " + delayMs + " ms");
            }
        }
        assertTrue(killed > 0, "at least one run was killed before it ended");
    }

    @Test
    void aModelReplacedBeforeTheRestartIsRefusedInOneLine() throws Exception {
        Path model = Files.copy(SharedData.stories260K(), work.resolve("replaced.bin"));
        Path out = work.resolve("replaced-out");
        assertEquals(HALTED, child(model, out, "block-1-record").exit());
        try (RandomAccessFile f = new RandomAccessFile(model.toFile(), "rw")) {
            f.seek(28 + 4 * 1000); // a weight of the token embedding; same path, same size
            int b = f.read();
            f.seek(28 + 4 * 1000);
            f.write(b ^ 0x01);
        }
        CliEndToEndTest.Run r = CliEndToEndTest.vq(args(model, out).toArray(String[]::new));
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("holds an unfinished run with other arguments (model, calibration, method options"
                + " or seed)"), r.err());
        assertFalse(Files.exists(out.resolve("config.json")));
    }

    @Test
    void aRunTooLargeForTheHeapIsOneLineNotAnOutOfMemoryError() {
        Path out = work.resolve("huge");
        CliEndToEndTest.Run r = CliEndToEndTest.vq("quantize", "--model", SharedData.stories260K().toString(),
                "--calib", SharedData.tinyStoriesVal().toString(), "--method", "rtn", "--calib-samples", "4000000",
                "--calib-len", "512", "--out", out.toString());
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("vq: this run needs about "), r.err());
        assertTrue(r.err().contains("or use fewer or shorter calibration sequences (--calib-samples 4000000 x"
                + " --calib-len 512 hold "), r.err());
        assertTrue(r.err().contains("(Runtime.maxMemory(), -Xmx)"), r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void tokenizeConvertAndExportRemoveTheTemporariesAKilledRunLeft() throws IOException {
        Path ids = work.resolve("ids.bin");
        Path stale = Files.write(work.resolve(".ids.bin.8812734.partial"), new byte[0]);
        Path other = Files.write(work.resolve(".other.bin.8812734.partial"), new byte[0]);
        CliEndToEndTest.Run r = CliEndToEndTest.vq("tokenize", "--model", SharedData.stories260K().toString(),
                "--text", SharedData.tinyStoriesVal().toString(), "--limit-bytes", "2000", "--out", ids.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.size(ids) > 0);
        assertFalse(Files.exists(stale), "its own temporary went");
        assertTrue(Files.exists(other), "another file's stays");
        // convert (and dequantize, through the same writer) builds a directory beside its target
        Path hf = work.resolve("hf");
        Path staleDir = Files.createDirectories(work.resolve(".hf.5550123"));
        Files.write(staleDir.resolve(".model.safetensors.42.partial"), new byte[100]);
        r = CliEndToEndTest.vq("convert", "--model", SharedData.stories260K().toString(), "--out", hf.toString());
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(staleDir), "the killed convert's directory went");
        assertTrue(Files.isRegularFile(hf.resolve("config.json")));
        Path gguf = work.resolve("m.gguf");
        Path staleGguf = Files.write(work.resolve(".m.gguf.31.partial"), new byte[0]);
        r = CliEndToEndTest.vq("export", "--format", "gguf", "--type", "f32", "--model",
                SharedData.stories260K().toString(), "--out", gguf.toString());
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(staleGguf));
        assertTrue(Files.size(gguf) > 0);
    }
}
