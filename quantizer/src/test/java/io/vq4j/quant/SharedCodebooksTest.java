package io.vq4j.quant;

import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.Stage;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.model.KvCache;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.LlamaWeights;
import io.vq4j.model.ModelLoader;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.pack.PackedLayers;
import io.vq4j.pack.PackedStats;
import io.vq4j.quant.job.QuantizeJob;
import io.vq4j.quant.job.QuantizeJobTest;
import io.vq4j.testing.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --share-codebooks kind|all on the real stories260K model (5 blocks, 7 linear layers each). */
class SharedCodebooksTest {
    static final String[] KINDS = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

    static QuantSpec spec(String method, int d, int k, String share) {
        return Specs.of(method, "--dim", d, "--centroids", k, "--iters", 8, "--tol", 1e-4, "--share-codebooks", share);
    }

    /** Every layer of a packed directory, read through the directory (as the model loader does). */
    static Map<String, PackedMatrix> layers(Path dir) {
        Map<String, PackedMatrix> out = new java.util.TreeMap<>();
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(dir)) {
            PackedLayers.TensorSource all = PackedLayers.TensorSource.of(st.files().toArray(SafeTensorsFile[]::new));
            for (SafeTensorsFile f : st.files()) {
                for (var e : f.metadata().entrySet()) {
                    if (e.getKey().startsWith(PackedLayers.META_PREFIX)) {
                        String name = e.getKey().substring(PackedLayers.META_PREFIX.length());
                        out.put(name, PackedLayers.read(name, e.getValue(), all));
                    }
                }
            }
        }
        return out;
    }

    static float[] halfs(SafeTensorsFile f, String name) {
        byte[] b = f.data(name).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        float[] v = new float[b.length / 2];
        for (int i = 0; i < v.length; i++) {
            v[i] = Float.float16ToFloat((short) ((b[2 * i] & 0xff) | (b[2 * i + 1] << 8)));
        }
        return v;
    }

    /** Every d-vector of the dequantized layer along the encoding's axis is a row of the codebook. */
    static void assertBuiltFrom(PackedMatrix q, float[] book, int k, int d, boolean alongRows) {
        java.util.Set<String> rows = new java.util.HashSet<>();
        for (int c = 0; c < k; c++) {
            rows.add(Arrays.toString(Arrays.copyOfRange(book, c * d, (c + 1) * d)));
        }
        float[] w = q.dequantize();
        int n = q.rows() * q.cols() / d;
        for (int i = 0; i < n; i++) {
            float[] v = new float[d];
            for (int t = 0; t < d; t++) {
                int r = alongRows ? (i % (q.rows() / d)) * d + t : i / (q.cols() / d);
                int c = alongRows ? i / (q.rows() / d) : (i % (q.cols() / d)) * d + t;
                v[t] = w[r * q.cols() + c];
            }
            assertTrue(rows.contains(Arrays.toString(v)), "vector " + i + " " + Arrays.toString(v));
        }
    }

    @Test
    void oneCodebookPerKindIsStoredOnceUsedByEveryBlockAndCountedOnce(@TempDir Path dir) throws IOException {
        int d = 2;
        int k = 64;
        List<LayerWeights> blocks = new ArrayList<>();
        QuantizeJob.Result r = QuantizeJobTest.run(spec("gptvq", d, k, "kind"), 1, dir.resolve("q"),
                new QuantizeJob.Listener() {
                    @Override
                    public void blockDone(int b, LayerWeights quantized) {
                        blocks.add(quantized);
                    }
                });
        assertEquals(35, r.layers().size());
        Path q = dir.resolve("q");
        // the seven codebooks sit in the first block's shard, nowhere else, and no layer has its own
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(q)) {
            int shared = 0;
            for (SafeTensorsFile f : st.files()) {
                for (String t : f.names()) {
                    assertFalse(t.endsWith(".codebook") && !t.startsWith(PackedLayers.SHARED_PREFIX), t);
                    if (t.startsWith(PackedLayers.SHARED_PREFIX)) {
                        shared++;
                        assertEquals("model-00001-of-00006.safetensors", f.path().getFileName().toString());
                        assertEquals(DType.F16, f.info(t).dtype());
                        assertArrayEquals(new long[]{1, k, d}, f.info(t).shape());
                    }
                }
            }
            assertEquals(7, shared);
            Map<String, PackedMatrix> layers = layers(q);
            for (String kind : KINDS) {
                String tensor = SharedCodebooks.tensor(kind);
                float[] book = halfs(st.fileOf(tensor), tensor);
                for (int b = 0; b < 5; b++) {
                    PackedMatrix l = layers.get(SourceModel.prefix(b) + kind);
                    Segment.Vector v = (Segment.Vector) l.segments().get(0);
                    Stage stage = l.stages(v).get(0);
                    assertEquals(tensor, stage.sharedTensor());
                    assertArrayEquals(book, l.codebooks(v, stage), kind + " block " + b);
                    assertBuiltFrom(l, book, k, d, false);
                }
            }
        }
        // the shared bytes are quantization overhead, counted once; the unquantized tensors are
        // the same as with a codebook per layer
        PackedStats.Stats s = PackedStats.of(q);
        assertEquals(7L * k * d * 2, s.sharedCodebookBytes());
        QuantizeJobTest.run(spec("gptvq", d, k, "none"), 1, dir.resolve("own"), new QuantizeJob.Listener() { });
        PackedStats.Stats own = PackedStats.of(dir.resolve("own"));
        assertEquals(own.unquantizedDataBytes(), s.unquantizedDataBytes());
        assertEquals(0, own.sharedCodebookBytes());
        long ownBooks = 35L * k * d * 2;
        assertTrue(s.fileBytes() < own.fileBytes() - ownBooks + 7L * k * d * 2 + 35 * 200,
                "sharing saves 28 codebooks' bytes: " + s.fileBytes() + " vs " + own.fileBytes());
        // the packed directory gives the in-memory quantized model's logits bit for bit
        LlamaCheckpoint src = ModelLoader.load(SharedData.stories260K(), null).checkpoint();
        LlamaModel inMemory = new LlamaModel(src.config(), new LlamaWeights(src.weights().tokenEmbedding(),
                blocks, src.weights().finalNorm(), src.weights().lmHead()));
        ModelLoader.LoadedModel packed = ModelLoader.load(q, null);
        int[] ids = packed.tokenizer().encode("Once upon a time, there was a little dog named Max.", true);
        KvCache c1 = inMemory.newCache(ids.length);
        KvCache c2 = packed.model().newCache(ids.length);
        assertArrayEquals(inMemory.forward(ids, 0, ids.length, c1, true),
                packed.model().forward(ids, 0, ids.length, c2, true));
    }

    @Test
    void aSharedRunResumesToTheSameBytes(@TempDir Path dir) throws IOException {
        QuantSpec s = spec("vptq", 2, 32, "kind");
        QuantizeJobTest.run(s, 4, dir.resolve("whole"), new QuantizeJob.Listener() { });
        Path out = dir.resolve("crash");
        assertThrows(IllegalStateException.class, () -> QuantizeJobTest.run(s, 4, out, new QuantizeJob.Listener() {
            @Override
            public void progress(int block, int blocks, int layer, int layers, String name) {
                if (block == 2 && layer == 3) {
                    throw new IllegalStateException("killed");
                }
            }
        }));
        QuantizeJob.Result r = QuantizeJobTest.run(s, 4, out, new QuantizeJob.Listener() { });
        assertEquals(2, r.blocksResumed());
        QuantizeJobTest.assertSameFiles(QuantizeJobTest.files(dir.resolve("whole")), QuantizeJobTest.files(out));
        // vptq vectors run down a column: every one of them is a centroid of its kind's codebook
        Map<String, PackedMatrix> layers = layers(out);
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(out)) {
            String tensor = SharedCodebooks.tensor("mlp.down_proj");
            assertBuiltFrom(layers.get(SourceModel.prefix(3) + "mlp.down_proj"), halfs(st.fileOf(tensor), tensor), 32, 2,
                    true);
        }
    }

    @Test
    void allLayersShareOneCodebook(@TempDir Path dir) {
        int d = 4;
        int k = 512;
        QuantizeJobTest.run(spec("kmeans", d, k, "all"), 2, dir.resolve("q"), new QuantizeJob.Listener() { });
        Map<String, PackedMatrix> layers = layers(dir.resolve("q"));
        assertEquals(35, layers.size());
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(dir.resolve("q"))) {
            String tensor = SharedCodebooks.tensor("all");
            assertEquals(PackedLayers.SHARED_PREFIX + "all.codebook", tensor);
            float[] book = halfs(st.fileOf(tensor), tensor);
            for (PackedMatrix l : layers.values()) {
                assertBuiltFrom(l, book, k, d, false);
            }
        }
        assertEquals((long) k * d * 2, PackedStats.of(dir.resolve("q")).sharedCodebookBytes());
    }

    @Test
    void sharingThatCannotWorkIsRefusedBeforeAnyWork(@TempDir Path dir) {
        Path out = dir.resolve("out");
        // 4096 centroids: the 5 k_proj layers (32x64) hold 2,560 4-d vectors together
        var e = assertThrows(InputException.class, () -> QuantizeJobTest.run(spec("kmeans", 4, 4096, "kind"), 0, out,
                new QuantizeJob.Listener() { }));
        assertEquals("kmeans: --centroids 4096 is more than the 2560 vectors of every self_attn.k_proj layer together"
                + " (--share-codebooks kind)", e.getMessage());
        e = assertThrows(InputException.class, () -> QuantizeJobTest.run(spec("kmeans", 4, 4096, "none"), 0, out,
                new QuantizeJob.Listener() { }));
        assertTrue(e.getMessage().contains("more than the 1024 vectors of a codebook group"), e.getMessage());
        e = assertThrows(InputException.class, () -> QuantizeJobTest.run(Specs.with(spec("gptvq", 2, 16, "kind"),
                "--group-size", 32), 0, out, new QuantizeJob.Listener() { }));
        assertEquals("gptvq on q_proj (64x64): --share-codebooks kind cannot be combined with codebook groups"
                + " (--group-size/--group-rows must be 0)", e.getMessage());
        e = assertThrows(InputException.class, () -> QuantizeJobTest.run(Specs.with(spec("vptq", 2, 16, "all"),
                "--residual-centroids", List.of(4)), 0, out, new QuantizeJob.Listener() { }));
        assertEquals("vptq on q_proj (64x64): --share-codebooks all cannot be combined with residual stages"
                + " (--residual-centroids)", e.getMessage());
        assertFalse(Files.exists(out), "nothing written");
        // the option belongs to the vector methods only, and has three values
        e = assertThrows(InputException.class, () -> QuantOptions.build("rtn", Map.of("--share-codebooks", "kind")));
        assertEquals("--share-codebooks: not an option of --method rtn", e.getMessage());
        e = assertThrows(InputException.class, () -> QuantOptions.build("kmeans", Map.of("--share-codebooks", "layer")));
        assertEquals("--share-codebooks: must be none, kind or all, got 'layer'", e.getMessage());
        assertEquals("all", QuantOptions.build("vptq", Map.of("--share-codebooks", "all")).shareCodebooks());
        assertEquals("none", QuantOptions.build("vptq", Map.of()).shareCodebooks());
    }

    @Test
    void aLayoutNamingABadSharedTensorIsRefused() {
        StageValues st = new StageValues(2, CodebookFormat.F16, new float[]{1, 2, 3, 4}, null, new int[]{0, 1, 1, 0},
                "vq4j.shared.all.codebook");
        PackedMatrix l = PackedMatrix.builder(2, 4).method("kmeans").vector("", 0, 4, Axis.IN, 2, 2, 4, List.of(st),
                null).build();
        // the layer's own tensors hold no codebook; the shared one is a separate part
        List<PackedLayers.Part> parts = PackedLayers.parts("m.x", l);
        assertEquals(List.of("m.x.indices"), parts.stream().map(PackedLayers.Part::name).toList());
        PackedLayers.Part book = PackedLayers.sharedCodebook("vq4j.shared.all.codebook", 2, 2, st.codebooks());
        Map<String, PackedLayers.Part> all = new java.util.HashMap<>();
        for (PackedLayers.Part p : parts) {
            all.put(p.name(), p);
        }
        all.put(book.name(), book);
        PackedLayers.TensorSource src = new PackedLayers.TensorSource() {
            @Override
            public boolean contains(String name) {
                return all.containsKey(name);
            }

            @Override
            public PackedLayers.Tensor get(String name) {
                PackedLayers.Part p = all.get(name);
                return p == null ? null : new PackedLayers.Tensor(p.dtype(), p.shape(), p.bytes());
            }
        };
        PackedMatrix back = PackedLayers.read("m.x", PackedLayers.layoutJson(l), src);
        assertArrayEquals(l.dequantize(), back.dequantize());
        assertEquals("vq4j.shared.all.codebook", back.stages().get(0).sharedTensor());
        String renamed = PackedLayers.layoutJson(l).replace("vq4j.shared.all.codebook", "m.other.codebook");
        // unverified: the edit changes the layout's own CRC32C, which would fail first
        var e = assertThrows(IllegalArgumentException.class, () -> PackedLayers.read("m.x", renamed, src, false));
        assertTrue(e.getMessage().startsWith("layout of 'm.x': a shared codebook must be an f16 tensor named vq4j.shared."),
                e.getMessage());
        all.remove(book.name());
        e = assertThrows(IllegalArgumentException.class,
                () -> PackedLayers.read("m.x", PackedLayers.layoutJson(l), src));
        assertEquals("tensor 'vq4j.shared.all.codebook' is missing", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PackedLayers.sharedCodebook("m.x.codebook", 2, 2,
                st.codebooks()));
        assertNull(new StageValues(2, CodebookFormat.F16, new float[4], null, new int[4]).sharedTensor());
        assertNotNull(st.sharedTensor());
        assertNull(PackedMatrix.builder(2, 4).vector("", 0, 4, Axis.IN, 2, 2, 4,
                List.of(new StageValues(2, CodebookFormat.F16, new float[4], null, new int[4])), null).build()
                .stages().get(0).sharedTensor());
        assertNotNull(l.stages().get(0).sharedTensor());
    }
}
