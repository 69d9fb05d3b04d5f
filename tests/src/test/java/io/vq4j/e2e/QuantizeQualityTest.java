package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.eval.Perplexity;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.model.ModelLoader;
import io.vq4j.quant.QuantOptions;
import io.vq4j.quant.job.QuantizeJob;
import io.vq4j.quant.SourceModel;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.testing.SharedData;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the literature leads one to expect of correct implementations, on the real stories260K
 * model with real text: calibration on the start of tinystories_val.txt, perplexity on a
 * disjoint later slice. GPTQ's error feedback beats plain rounding at the same bits; the
 * Hessian-aware VQ methods beat naive k-means at the same d and k; perplexity falls as bits
 * rise. These are measurements, not tuned thresholds: the test only compares.
 */
class QuantizeQualityTest {
    @TempDir
    static Path work;
    static Path calib;
    static int[] evalIds;
    static ModelLoader.LoadedModel fp;
    static final Map<String, Double> PPL = new LinkedHashMap<>();

    @BeforeAll
    static void slices() throws Exception {
        String text = Files.readString(SharedData.file("tinystories/tinystories_val.txt"), StandardCharsets.UTF_8);
        int cut = text.indexOf('\n', 200_000) + 1;
        calib = Files.writeString(work.resolve("calib.txt"), text.substring(0, cut));
        int evalStart = text.indexOf('\n', 500_000) + 1;
        String eval = text.substring(evalStart, text.indexOf('\n', evalStart + 60_000) + 1);
        fp = ModelLoader.load(SharedData.stories260K(), null);
        evalIds = fp.tokenizer().encode(eval, true);
        PPL.put("fp32", Perplexity.evaluate(fp.model(), evalIds, 512, null).ppl());
    }

    static double ppl(String name, QuantSpec spec) {
        return PPL.computeIfAbsent(name, n -> {
            Path out = work.resolve(n);
            try (SourceModel src = new SourceModel.InMemory(fp.checkpoint())) {
                QuantizeJob.run(src, new QuantizeJob.Options(SharedData.stories260K(), calib, fp.tokenizer(), spec, 32,
                        256, 1, out), new CpuBackend(), new QuantizeJob.Listener() { });
            }
            double p = Perplexity.evaluate(ModelLoader.load(out, null).model(), evalIds, 512, null).ppl();
            System.out.printf("quality: %-14s ppl %.4f%n", n, p);
            return p;
        });
    }

    static QuantSpec scalar(String method, int bits) {
        return QuantOptions.build(method, Map.of("--bits", bits, "--group-size", 64));
    }

    static QuantSpec vq(String method, int k) {
        return QuantOptions.build(method, Map.of("--dim", 2, "--centroids", k)); // codebook groups: whole rows
    }

    static void assertBetter(String better, String worse) {
        assertTrue(PPL.get(better) < PPL.get(worse), better + " (" + PPL.get(better) + ") should beat " + worse + " ("
                + PPL.get(worse) + "); all: " + PPL);
    }

    @Test
    void gptqBeatsRoundToNearestAtEveryBitWidthAndBothImproveWithBits() {
        for (int b : new int[]{2, 3, 4}) {
            ppl("rtn-" + b, scalar("rtn", b));
            ppl("gptq-" + b, scalar("gptq", b));
            assertBetter("gptq-" + b, "rtn-" + b);
        }
        for (String m : List.of("rtn", "gptq")) {
            assertBetter(m + "-4", m + "-3");
            assertBetter(m + "-3", m + "-2");
            assertBetter("fp32", m + "-4");
        }
    }

    @Test
    void hessianAwareVqBeatsNaiveKMeansAtEqualSettingsAndImprovesWithK() {
        for (int k : new int[]{16, 64}) {
            ppl("kmeans-k" + k, vq("kmeans", k));
            ppl("gptvq-k" + k, vq("gptvq", k));
            ppl("vptq-k" + k, vq("vptq", k));
            assertBetter("gptvq-k" + k, "kmeans-k" + k);
            assertBetter("vptq-k" + k, "kmeans-k" + k);
        }
        for (String m : List.of("kmeans", "gptvq", "vptq")) {
            assertBetter(m + "-k64", m + "-k16");
        }
    }
}
