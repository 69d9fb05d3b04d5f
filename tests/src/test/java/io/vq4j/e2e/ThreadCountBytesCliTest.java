package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.testing.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 16, "Precision and agreement": the CPU backend is deterministic across thread counts. The
 * same `vq quantize` on stories260K in this JVM (as many threads as processors) and in child JVMs
 * with {@code -Dvq.threads=1} and {@code -Dvq.threads=3} (a chunking no machine's default gives
 * here) must write the same bytes, the reports' timings aside: every parallel loop of the
 * quantizer, the calibration forward, the Hessians, the blocked factor and the codebook EM cuts
 * its work in chunks that do not depend on the thread count, and sums in a fixed order.
 */
class ThreadCountBytesCliTest {
    @TempDir
    Path work;

    @ParameterizedTest
    @ValueSource(strings = {"gptq --bits 3 --group-size 16 --act-order",
            "gptvq --dim 2 --centroids 32 --block-norm 16",
            "vptq --dim 4 --centroids 64 --residual-centroids 16 --outlier-percent 2 --outlier-centroids 16 --perm --norm"})
    void sameBytesWhateverTheThreadCount(String method) throws Exception {
        Path here = work.resolve("in-process");
        CliEndToEndTest.Run r = CliEndToEndTest.vq(args(method, here).toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        Map<String, byte[]> expected = KillResumeCliTest.files(here);
        assertTrue(expected.containsKey("config.json"), expected.keySet().toString());
        for (int threads : new int[]{1, 3}) {
            Path out = work.resolve("threads-" + threads);
            Path log = work.resolve("threads-" + threads + ".log");
            Process p = ChildVq.start(List.of("-Dvq.threads=" + threads), args(method, out), log);
            assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the child ended");
            assertEquals(0, p.exitValue(), Files.readString(log));
            Map<String, byte[]> got = KillResumeCliTest.files(out);
            assertEquals(expected.keySet(), got.keySet(), threads + " threads: the same files");
            for (String k : expected.keySet()) {
                assertArrayEquals(expected.get(k), got.get(k), threads + " threads against "
                        + Runtime.getRuntime().availableProcessors() + ": " + k + " (" + method + ")");
            }
        }
    }

    private static List<String> args(String method, Path out) {
        List<String> a = new ArrayList<>(List.of("quantize", "--model", SharedData.stories260K().toString(),
                "--calib", SharedData.tinyStoriesVal().toString(), "--calib-samples", "4", "--calib-len", "64",
                "--seed", "3", "--out", out.toString(), "--method"));
        a.addAll(List.of(method.split(" ")));
        return a;
    }
}
