package io.vq4j.quant.budget;

import com.fasterxml.jackson.databind.JsonNode;
import io.vq4j.core.InputException;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.model.ModelLoader;
import io.vq4j.pack.PackedStats;
import io.vq4j.quant.SourceModel;
import io.vq4j.quant.Specs;
import io.vq4j.quant.job.QuantizeJob;
import io.vq4j.quant.job.QuantizeJobTest;
import io.vq4j.testing.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `vq quantize --target-bpw` on stories260K (4 x 64 calibration tokens, three quick candidates). */
class BudgetJobTest {
    static final Path CALIB = SharedData.file("tinystories/tinystories_val.txt");
    static final List<Candidate> CANDIDATES = List.of(
            new Candidate("rtn bits=2", Specs.of("rtn", "--bits", 2)),
            new Candidate("gptq bits=3", Specs.of("gptq", "--bits", 3)),
            new Candidate("kmeans dim=2 centroids=16", Specs.of("kmeans", "--dim", 2, "--centroids", 16, "--iters", 10)));

    static BudgetJob.Result run(double bpw, List<Candidate> cands, Path out, QuantizeJob.Listener l) {
        ModelLoader.LoadedModel m = ModelLoader.load(SharedData.stories260K(), null);
        try (SourceModel src = new SourceModel.InMemory(m.checkpoint())) {
            return BudgetJob.run(src, new QuantizeJob.Options(SharedData.stories260K(), CALIB,
                    m.tokenizer(), cands.getFirst().spec(), 4, 64, 1, out), bpw, cands, new CpuBackend(), l);
        }
    }

    @Test
    void theFilesTrueBitsStayWithinTheBudgetAndEqualThePrediction(@TempDir Path dir) {
        for (double bpw : new double[]{3.1, 3.6}) {
            Path out = dir.resolve("b" + bpw);
            BudgetJob.Result r = run(bpw, CANDIDATES, out, new QuantizeJob.Listener() { });
            PackedStats.Stats st = PackedStats.of(out);
            long measured = st.fileBytes() - st.unquantizedDataBytes();
            JsonNode plan = r.plan();
            assertTrue(st.trueBitsPerWeight() <= bpw, st.trueBitsPerWeight() + " > " + bpw);
            assertTrue(measured * 8 <= Math.floor(bpw * st.quantizedWeights()), "exact on bytes");
            assertEquals(plan.path("predicted_bytes").asLong(), measured, "the plan predicts the files' bytes exactly");
            assertEquals(plan.path("budget_bytes").asLong(), (long) Math.floor(bpw * st.quantizedWeights() / 8));
            Map<String, Long> fileLayer = new HashMap<>();
            st.layers().forEach(l -> fileLayer.put(l.name(), l.bytes()));
            Set<Integer> used = new HashSet<>();
            for (JsonNode l : plan.path("layers")) {
                assertEquals(l.path("bytes").asLong(), fileLayer.get(l.path("name").asText()), l.path("name").asText());
                used.add(l.path("candidate").asInt());
            }
            assertEquals(35, plan.path("layers").size());
            assertTrue(used.size() >= 2, "a mixed choice at " + bpw + ": " + used);
            assertTrue(bpw - st.trueBitsPerWeight() < 0.2, "the budget is spent: " + st.trueBitsPerWeight());
        }
    }

    @Test
    void anInfeasibleBudgetIsOneLine(@TempDir Path dir) {
        InputException e = assertThrows(InputException.class,
                () -> run(1.5, CANDIDATES, dir.resolve("x"), new QuantizeJob.Listener() { }));
        assertTrue(e.getMessage().startsWith("--target-bpw 1.5: below the cheapest candidate"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        assertTrue(!Files.exists(dir.resolve("x")), "nothing written");
    }

    @Test
    void oneCandidateGivesTheUniformRunsShards(@TempDir Path dir) throws IOException {
        List<Candidate> one = List.of(CANDIDATES.get(1));
        run(8, one, dir.resolve("plan"), new QuantizeJob.Listener() { });
        QuantizeJobTest.run(one.getFirst().spec(), 1, dir.resolve("uniform"), new QuantizeJob.Listener() { });
        Map<String, byte[]> a = QuantizeJobTest.files(dir.resolve("plan"));
        Map<String, byte[]> b = QuantizeJobTest.files(dir.resolve("uniform"));
        for (String f : a.keySet()) {
            if (f.endsWith(".safetensors")) {
                assertArrayEquals(b.get(f), a.get(f), f);
            }
        }
    }

    private static final class Crash extends RuntimeException {
    }

    @Test
    void aKilledRunResumesWithTheRecordedChoiceToTheSameBytes(@TempDir Path dir) throws IOException {
        run(3.2, CANDIDATES, dir.resolve("whole"), new QuantizeJob.Listener() { });
        Path out = dir.resolve("crash");
        assertThrows(Crash.class, () -> run(3.2, CANDIDATES, out, new QuantizeJob.Listener() {
            @Override
            public void progress(int block, int blocks, int layer, int layers, String name) {
                if (block == 2 && layer == 3) {
                    throw new Crash();
                }
            }
        }));
        boolean[] reused = {false};
        BudgetJob.Result r = run(3.2, CANDIDATES, out, new QuantizeJob.Listener() {
            @Override
            public void info(String line) {
                reused[0] |= line.startsWith("using the per-layer choice recorded");
            }
        });
        assertTrue(reused[0], "the choice comes from the checkpoint record, not a new measurement");
        assertEquals(2, r.job().blocksResumed());
        QuantizeJobTest.assertSameFiles(QuantizeJobTest.files(dir.resolve("whole")), QuantizeJobTest.files(out));
        assertThrows(InputException.class, () -> run(3.3, CANDIDATES, dir.resolve("whole"),
                new QuantizeJob.Listener() { }), "another budget into a finished directory is refused");
    }
}
