package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.cli.VqMain;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * `vq quantize`'s heap (issue 16): the memory estimate is an upper bound of what the job really
 * needs, and running out of memory is one line. A second JVM (G1, the default collector here, as
 * scripts/vq runs it) quantizes a synthetic model with gptq at two shapes, and with gptvq at one,
 * whose peak is the down_proj layer (its Hessian, the factor, the error report or gptvq's codebook
 * update), with a heap just below what the
 * estimate asks for (refused before any work, one line, exit 2, nothing written) and just above
 * it (completes). The estimate and the heap the JVM holds before the run are read from the
 * refusal line of a first child with a heap too small: the heap asked for is their sum.
 *
 * <p>A real OutOfMemoryError: the test-only property vq4j.memory-estimate-scale lowers the
 * estimate so that a heap which cannot hold the run gets through the check; the run must then die
 * of the real thing in one line (exit 2, no stack trace, no config.json), and the same command
 * with enough heap must resume and end with the bytes of an uninterrupted run.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HeapCliTest {
    private static final Pattern NEED = Pattern.compile("this run needs about ([0-9.]+) MiB of heap at its peak, at"
            + " mlp\\.down_proj \\(([0-9]+)x([0-9]+)\\).* the JVM has ([0-9.]+) MiB free of its ([0-9.]+) MiB");
    @TempDir
    static Path work;
    static Path small;
    static Path large;
    /** The large model's uninterrupted output, from {@link #theLargeShapeFitsInTheEstimate}. */
    static Path largeOut;

    @BeforeAll
    static void models() {
        small = synth("small", 384, 1024, 6);
        large = synth("large", 512, 1376, 8);
    }

    private static Path synth(String name, int dim, int hidden, int heads) {
        Path out = work.resolve(name);
        CliEndToEndTest.Run r = CliEndToEndTest.vq("synth", "--out", out.toString(), "--dim", "" + dim, "--hidden",
                "" + hidden, "--layers", "1", "--heads", "" + heads, "--kv-heads", "" + heads, "--vocab", "512",
                "--tokenizer", SharedData.tok512().toString());
        assertEquals(0, r.code(), r.err());
        return out;
    }

    /** A finished child: exit code, stdout, stderr without the JVM's incubator notice. */
    private record Child(int code, String out, String err) {
    }

    private static final List<String> GPTQ = List.of("--method", "gptq", "--bits", "4", "--group-size", "128");

    private static Child quantize(Path model, Path out, int xmxMiB, Double scale) throws IOException,
            InterruptedException {
        return quantize(model, out, xmxMiB, scale, GPTQ);
    }

    private static Child quantize(Path model, Path out, int xmxMiB, Double scale, List<String> method)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss8m",
                "-XX:+UseG1GC", "-Xmx" + xmxMiB + "m", "-cp", System.getProperty("java.class.path")));
        if (scale != null) {
            cmd.add("-Dvq4j.memory-estimate-scale=" + scale);
        }
        cmd.add(VqMain.class.getName());
        cmd.addAll(List.of("quantize", "--model", model.toString(), "--tokenizer", SharedData.tok512().toString(),
                "--calib", SharedData.tinyStoriesVal().toString()));
        cmd.addAll(method);
        cmd.addAll(List.of("--calib-samples", "8", "--calib-len", "256", "--seed", "3", "--out", out.toString()));
        Path stdout = Files.createTempFile(work, "out", ".txt");
        Path stderr = Files.createTempFile(work, "err", ".txt");
        Process p = new ProcessBuilder(cmd).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the child ended");
        String err = Files.readString(stderr).lines().filter(l -> !l.startsWith("WARNING: Using incubator modules"))
                .reduce("", (a, b) -> a + b + "\n");
        return new Child(p.exitValue(), Files.readString(stdout), err);
    }

    /** The estimate and the heap the child held at the check, in MiB, from a refusal. */
    private record Estimate(double needMiB, double heldMiB, int rows, int cols) {
        int xmx(double fraction) {
            return (int) Math.ceil(needMiB * fraction + heldMiB);
        }
    }

    private static Estimate refusal(Child c) {
        assertEquals(2, c.code(), c.out() + c.err());
        assertEquals(1, c.err().strip().lines().count(), c.err());
        Matcher m = NEED.matcher(c.err());
        assertTrue(m.find(), c.err());
        assertTrue(c.err().contains("run it with -Xmx1g or more (VQ_JAVA_OPTS)"), c.err());
        return new Estimate(Double.parseDouble(m.group(1)), Double.parseDouble(m.group(5))
                - Double.parseDouble(m.group(4)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
    }

    /**
     * Below the estimate (plus what the JVM held): refused in one line, nothing written; above
     * it: the run completes. Returns the completed output directory.
     */
    private static Path belowRefusedAboveCompletes(Path model, String name, int cols, List<String> method)
            throws Exception {
        Estimate e = refusal(quantize(model, work.resolve(name + "-probe"), 32, null, method));
        assertEquals(cols, e.cols(), "down_proj's input is the widest Hessian");
        Path below = work.resolve(name + "-below");
        Estimate again = refusal(quantize(model, below, e.xmx(0.94), null, method));
        assertEquals(e.needMiB(), again.needMiB(), 0.05, "the estimate does not depend on the heap");
        assertFalse(Files.exists(below), "nothing written");
        Path above = work.resolve(name + "-above");
        Child c = quantize(model, above, e.xmx(1.0) + 1, null, method);
        assertEquals(0, c.code(), "with the estimate's heap (" + e + ") the run completes: " + c.err());
        assertTrue(Files.isRegularFile(above.resolve("config.json")));
        return above;
    }

    @Test
    @Order(1)
    void theSmallShapeFitsInTheEstimate() throws Exception {
        belowRefusedAboveCompletes(small, "small", 1024, GPTQ);
    }

    @Test
    @Order(2)
    void theLargeShapeFitsInTheEstimate() throws Exception {
        largeOut = belowRefusedAboveCompletes(large, "large", 1376, GPTQ);
    }

    /** gptvq's peak is its codebook update: the gemm's packed copy of the float H beside the factor. */
    @Test
    @Order(2)
    void gptvqWithItsCodebookUpdateFitsInTheEstimate() throws Exception {
        belowRefusedAboveCompletes(small, "small-gptvq", 1024, List.of("--method", "gptvq", "--dim", "2",
                "--centroids", "256"));
    }

    @Test
    @Order(3)
    void aRealOutOfMemoryErrorIsOneLineAndTheRunResumes() throws Exception {
        Estimate e = refusal(quantize(large, work.resolve("oom-probe"), 32, null));
        Path out = work.resolve("oom");
        // the estimate scaled to a quarter lets a heap of 60 % of it through: too small for the run
        Child c = quantize(large, out, e.xmx(0.6), 0.25);
        assertEquals(VqMain.OUT_OF_MEMORY, c.code(), c.out() + c.err());
        // the progress bar's line, then the error's one line: nothing else (no stack trace)
        List<String> lines = c.err().strip().lines().filter(l -> !l.startsWith("[")).toList();
        assertEquals(1, lines.size(), c.err());
        assertTrue(lines.get(0).startsWith("vq: out of memory (Java heap space) with a heap of "), c.err());
        assertTrue(lines.get(0).contains("run it again with a larger -Xmx (VQ_JAVA_OPTS)"), c.err());
        assertFalse(c.err().contains("\tat ") || c.err().contains("Exception"), c.err());
        assertTrue(c.out().contains("self_attn.q_proj"), "it ran out in the middle of the work: " + c.out());
        assertFalse(Files.exists(out.resolve("config.json")), "an unfinished run is never a model");
        // the same command with the heap it needs resumes and ends with an uninterrupted run's bytes
        Child resumed = quantize(large, out, e.xmx(1.0) + 1, null);
        assertEquals(0, resumed.code(), resumed.err());
        if (largeOut == null) { // run alone
            largeOut = work.resolve("large-whole");
            assertEquals(0, quantize(large, largeOut, e.xmx(1.0) + 1, null).code());
        }
        Map<String, byte[]> want = KillResumeCliTest.files(largeOut);
        Map<String, byte[]> got = KillResumeCliTest.files(out);
        assertEquals(want.keySet(), got.keySet());
        for (String f : want.keySet()) {
            assertArrayEquals(want.get(f), got.get(f), f);
        }
    }
}
