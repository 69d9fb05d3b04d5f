package io.vq4j.quant.job;

import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.KvCache;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.LlamaWeights;
import io.vq4j.model.ModelLoader;
import io.vq4j.quant.Specs;
import io.vq4j.quant.SourceModel;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.testing.InputErrors;
import io.vq4j.testing.SharedData;
import io.vq4j.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `vq quantize` on the real stories260K model with a small calibration set (4 x 64 tokens). */
public class QuantizeJobTest {
    static final Path CALIB = SharedData.file("tinystories/tinystories_val.txt");

    static QuantSpec kmeans() {
        return Specs.of("kmeans", "--dim", 2, "--centroids", 16, "--iters", 10, "--tol", 1e-4);
    }

    static QuantSpec kmeans(int d, int k) {
        return Specs.with(kmeans(), "--dim", d, "--centroids", k);
    }

    public static QuantizeJob.Result run(QuantSpec spec, long seed, Path out, QuantizeJob.Listener l) {
        ModelLoader.LoadedModel m = ModelLoader.load(SharedData.stories260K(), null);
        try (SourceModel src = new SourceModel.InMemory(m.checkpoint())) {
            return QuantizeJob.run(src, new QuantizeJob.Options(SharedData.stories260K(), CALIB, m.tokenizer(), spec, 4,
                    64, seed, out), new CpuBackend(), l);
        }
    }

    /** Every file of a directory with its bytes, except the report (it records timings). */
    public static Map<String, byte[]> files(Path dir) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (!n.startsWith("quantize-report")) {
                    m.put(n, Files.readAllBytes(p));
                }
            }
        }
        return m;
    }

    public static void assertSameFiles(Map<String, byte[]> a, Map<String, byte[]> b) {
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k), b.get(k), k);
        }
    }

    private static final class Crash extends RuntimeException {
    }

    @Test
    void sameSeedSameBytesAndAnotherSeedOthers(@TempDir Path dir) throws IOException {
        run(kmeans(), 1, dir.resolve("a"), new QuantizeJob.Listener() { });
        run(kmeans(), 1, dir.resolve("b"), new QuantizeJob.Listener() { });
        run(kmeans(), 2, dir.resolve("c"), new QuantizeJob.Listener() { });
        Map<String, byte[]> a = files(dir.resolve("a"));
        assertSameFiles(a, files(dir.resolve("b")));
        String shard = "model-00001-of-00006.safetensors";
        assertFalse(java.util.Arrays.equals(a.get(shard), files(dir.resolve("c")).get(shard)),
                "another seed gives other codebooks");
        assertFalse(Files.exists(dir.resolve("a").resolve(QuantizeJob.STATE)), "no checkpoint record left");
    }

    @Test
    void aRunKilledAnywhereResumesToTheSameBytes(@TempDir Path dir) throws IOException {
        run(kmeans(), 3, dir.resolve("whole"), new QuantizeJob.Listener() { });
        Map<String, byte[]> whole = files(dir.resolve("whole"));
        int[][] crashes = {{0, 0}, {2, 4}, {4, 6}};
        for (int[] at : crashes) {
            Path out = dir.resolve("crash-" + at[0] + "-" + at[1]);
            assertThrows(Crash.class, () -> run(kmeans(), 3, out, new QuantizeJob.Listener() {
                @Override
                public void progress(int block, int blocks, int layer, int layers, String name) {
                    if (block == at[0] && layer == at[1]) {
                        throw new Crash();
                    }
                }
            }));
            assertFalse(Files.exists(out.resolve("config.json")), "an unfinished directory never looks complete");
            assertFalse(Files.exists(out.resolve("model.safetensors.index.json")));
            assertThrows(InputException.class, () -> HfCheckpoints.read(out));
            QuantizeJob.Result r = run(kmeans(), 3, out, new QuantizeJob.Listener() { });
            assertEquals(at[0], r.blocksResumed());
            assertEquals(35, r.layers().size(), "the report lists the layers of the first run too");
            assertSameFiles(whole, files(out));
        }
        // started again when complete: nothing is redone
        QuantizeJob.Result again = run(kmeans(), 3, dir.resolve("whole"), new QuantizeJob.Listener() { });
        assertEquals(5, again.blocksResumed());
        // other arguments into an unfinished or finished directory are refused
        InputErrors.fails(dir.resolve("whole"), "other arguments",
                () -> run(kmeans(2, 8), 3, dir.resolve("whole"), new QuantizeJob.Listener() { }));
    }

    @Test
    void thePackedDirectoryGivesTheInMemoryModelsLogitsBitForBit(@TempDir Path dir) {
        List<LayerWeights> blocks = new ArrayList<>();
        run(kmeans(), 5, dir.resolve("q"), new QuantizeJob.Listener() {
            @Override
            public void blockDone(int b, LayerWeights quantized) {
                blocks.add(quantized);
            }
        });
        LlamaCheckpoint src = ModelLoader.load(SharedData.stories260K(), null).checkpoint();
        LlamaModel inMemory = new LlamaModel(src.config(), new LlamaWeights(src.weights().tokenEmbedding(),
                blocks, src.weights().finalNorm(), src.weights().lmHead()));
        ModelLoader.LoadedModel packed = ModelLoader.load(dir.resolve("q"), null);
        Tokenizer tok = packed.tokenizer();
        int[] ids = tok.encode("Once upon a time, there was a little dog named Max. He liked to run.", true);
        KvCache c1 = inMemory.newCache(ids.length);
        KvCache c2 = packed.model().newCache(ids.length);
        float[] a = inMemory.forward(ids, 0, ids.length, c1, true);
        float[] b = packed.model().forward(ids, 0, ids.length, c2, true);
        assertArrayEquals(a, b);
        float[] fp = LlamaModel.of(src).forward(ids, 0, ids.length, inMemory.newCache(ids.length), true);
        assertFalse(java.util.Arrays.equals(a, fp), "quantization changed the model");
    }

    @Test
    void badInputIsOneLineAndWritesNothing(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("out");
        Path shortText = Files.writeString(dir.resolve("short.txt"), "Once upon a time there was a cat.\n");
        ModelLoader.LoadedModel m = ModelLoader.load(SharedData.stories260K(), null);
        try (SourceModel src = new SourceModel.InMemory(m.checkpoint())) {
            InputErrors.fails(shortText, "--calib-samples 4 x --calib-len 64 needs 256",
                    () -> QuantizeJob.run(src, new QuantizeJob.Options(SharedData.stories260K(), shortText,
                            m.tokenizer(), kmeans(), 4, 64, 0, out), new CpuBackend(), new QuantizeJob.Listener() { }));
        }
        var e = assertThrows(InputException.class, () -> run(kmeans(3, 16), 0, out, new QuantizeJob.Listener() { }));
        assertEquals("kmeans on q_proj (64x64): --dim 3 does not divide the 64 columns", e.getMessage());
        e = assertThrows(InputException.class, () -> run(kmeans(2, 1500), 0, out, new QuantizeJob.Listener() { }));
        assertEquals("kmeans on k_proj (32x64): --centroids 1500 is more than the 1024 vectors of a codebook group",
                e.getMessage());
        e = assertThrows(InputException.class, () -> run(Specs.of("awq"), 0, out, new QuantizeJob.Listener() { }));
        assertTrue(e.getMessage().equals("--method: unknown method 'awq' (known: rtn, gptq, kmeans, gptvq, vptq)"), e.getMessage());
        assertFalse(Files.exists(out), "nothing written for bad input");

        // a NaN in one weight of an HF checkpoint
        LlamaCheckpoint ck = m.checkpoint();
        float[] wk = ((io.vq4j.model.DenseLinear) ck.weights().layers().get(3).wk()).weight();
        wk[77] = Float.NaN;
        List<LayerWeights> layers = new ArrayList<>(ck.weights().layers());
        LayerWeights l3 = layers.get(3);
        layers.set(3, l3.with("self_attn.k_proj", new io.vq4j.model.DenseLinear(wk, null, 32, 64)));
        Path hf = dir.resolve("nan-model");
        HfCheckpoints.write(new LlamaCheckpoint(ck.config(), new LlamaWeights(ck.weights().tokenEmbedding(), layers,
                ck.weights().finalNorm(), ck.weights().lmHead()), "nan"), hf, DType.F32);
        try (SourceModel src = SourceModel.open(hf)) {
            InputErrors.fails(hf.resolve("model.safetensors"),
                    "tensor 'model.layers.3.self_attn.k_proj.weight' holds NaN at element 77",
                    () -> QuantizeJob.run(src, new QuantizeJob.Options(hf, CALIB, m.tokenizer(), kmeans(), 4, 64, 0,
                            out), new CpuBackend(), new QuantizeJob.Listener() { }));
        }
        assertFalse(Files.exists(out), "nothing written for bad weights");
    }

    @Test
    void anHfSourceGivesTheSameBytesAsTheLlama2cFileItCameFrom(@TempDir Path dir) throws IOException {
        ModelLoader.LoadedModel m = ModelLoader.load(SharedData.stories260K(), null);
        Path hf = dir.resolve("hf");
        HfCheckpoints.write(m.checkpoint(), hf, DType.F32,
                d -> io.vq4j.tokenizer.TokenizerJson.write((io.vq4j.tokenizer.Llama2cTokenizer) m.tokenizer(), d));
        run(Specs.of("rtn", "--bits", 3, "--group-size", 16), 0, dir.resolve("a"), new QuantizeJob.Listener() { });
        try (SourceModel src = SourceModel.open(hf)) {
            QuantizeJob.run(src, new QuantizeJob.Options(hf, CALIB, m.tokenizer(),
                    Specs.of("rtn", "--bits", 3, "--group-size", 16), 4, 64, 0, dir.resolve("b")),
                    new CpuBackend(), new QuantizeJob.Listener() { });
        }
        Map<String, byte[]> a = files(dir.resolve("a"));
        Map<String, byte[]> b = files(dir.resolve("b"));
        for (int i = 1; i <= 5; i++) {
            String shard = String.format("model-%05d-of-00006.safetensors", i);
            assertArrayEquals(a.get(shard), b.get(shard), shard);
        }
        assertNotEquals(0, a.size());
    }
}
