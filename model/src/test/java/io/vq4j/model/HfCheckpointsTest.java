package io.vq4j.model;

import static io.vq4j.testing.InputErrors.fails;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hugging Face checkpoint directories: what is written reads back the same; bad ones fail with one line. */
class HfCheckpointsTest {
    @TempDir
    Path tmp;

    private static final LlamaConfig.RopeScaling LLAMA3 = new LlamaConfig.RopeScaling("llama3", 8, 1, 4, 16);

    /** Head size 6 with dim 16 and 4 heads: head_dim is explicit, as in Mistral-Nemo-style configs. */
    private static LlamaConfig config(String arch, boolean tie, boolean bias) {
        return new LlamaConfig(arch, 16, 24, 2, 4, 2, 6, 20, 64, 500000.0, arch.equals("LlamaForCausalLM") ? LLAMA3 : null,
                1e-5, tie, bias, 5, 7);
    }

    private static float[] random(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private static DenseLinear linear(SplittableRandom r, int out, int in, boolean bias) {
        return new DenseLinear(random(r, out * in), bias ? random(r, out) : null, out, in);
    }

    static LlamaCheckpoint checkpoint(LlamaConfig c, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        boolean qkvBias = c.attentionBias();
        boolean oBias = qkvBias && !c.architecture().equals("Qwen2ForCausalLM");
        int d = c.dim();
        float[] embedding = random(r, c.vocabSize() * d);
        List<LayerWeights> layers = new ArrayList<>();
        for (int l = 0; l < c.nLayers(); l++) {
            layers.add(new LayerWeights(random(r, d), linear(r, c.qDim(), d, qkvBias), linear(r, c.kvDim(), d, qkvBias),
                    linear(r, c.kvDim(), d, qkvBias), linear(r, d, c.qDim(), oBias), random(r, d),
                    linear(r, c.hiddenDim(), d, false), linear(r, d, c.hiddenDim(), false),
                    linear(r, c.hiddenDim(), d, false)));
        }
        Linear head = c.tieWordEmbeddings() ? new DenseLinear(embedding, null, c.vocabSize(), d)
                : linear(r, c.vocabSize(), d, false);
        return new LlamaCheckpoint(c, new LlamaWeights(embedding, layers, random(r, d), head), "test");
    }

    private static float[] stored(float[] v, DType d) {
        if (v == null) {
            return null;
        }
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = d.stored(v[i]);
        }
        return out;
    }

    private static void assertSameLinear(Linear expected, Linear actual, DType d, String what) {
        DenseLinear e = (DenseLinear) expected;
        DenseLinear a = (DenseLinear) actual;
        assertEquals(e.outFeatures(), a.outFeatures(), what);
        assertEquals(e.inFeatures(), a.inFeatures(), what);
        assertArrayEquals(stored(e.weight(), d), a.weight(), what);
        assertArrayEquals(stored(e.bias(), d), a.bias(), what + " bias");
    }

    private static void assertSameWeights(LlamaCheckpoint expected, LlamaCheckpoint actual, DType d) {
        LlamaWeights e = expected.weights();
        LlamaWeights a = actual.weights();
        assertArrayEquals(stored(e.tokenEmbedding(), d), a.tokenEmbedding());
        assertArrayEquals(stored(e.finalNorm(), d), a.finalNorm());
        assertSameLinear(e.lmHead(), a.lmHead(), d, "lm_head");
        for (int l = 0; l < e.layers().size(); l++) {
            LayerWeights x = e.layers().get(l);
            LayerWeights y = a.layers().get(l);
            assertArrayEquals(stored(x.attnNorm(), d), y.attnNorm());
            assertArrayEquals(stored(x.ffnNorm(), d), y.ffnNorm());
            assertSameLinear(x.wq(), y.wq(), d, l + ".q");
            assertSameLinear(x.wk(), y.wk(), d, l + ".k");
            assertSameLinear(x.wv(), y.wv(), d, l + ".v");
            assertSameLinear(x.wo(), y.wo(), d, l + ".o");
            assertSameLinear(x.w1(), y.w1(), d, l + ".gate");
            assertSameLinear(x.w2(), y.w2(), d, l + ".down");
            assertSameLinear(x.w3(), y.w3(), d, l + ".up");
        }
    }

    @Test
    void llamaWithBiasesRopeScalingAndExplicitHeadDimRoundTripsExactlyInF32() throws IOException {
        LlamaCheckpoint ckpt = checkpoint(config("LlamaForCausalLM", false, true), 1);
        Path dir = tmp.resolve("out");
        HfCheckpoints.write(ckpt, dir, DType.F32);
        LlamaCheckpoint back = HfCheckpoints.read(dir);
        assertEquals(ckpt.config(), back.config());
        assertSameWeights(ckpt, back, DType.F32);
        try (var s = Files.list(tmp)) {
            assertEquals(List.of(dir), s.toList(), "no temporary directory left beside the output");
        }
    }

    @Test
    void qwen2WithTiedEmbeddingsRoundTripsInBf16AndStoresTheEmbeddingOnce() throws IOException {
        LlamaCheckpoint ckpt = checkpoint(config("Qwen2ForCausalLM", true, true), 2);
        Path dir = tmp.resolve("out");
        HfCheckpoints.write(ckpt, dir, DType.BF16);
        LlamaCheckpoint back = HfCheckpoints.read(dir);
        assertEquals(ckpt.config(), back.config());
        assertSameWeights(ckpt, back, DType.BF16);
        assertArrayEquals(back.weights().tokenEmbedding(), ((DenseLinear) back.weights().lmHead()).weight(), "tied head");
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("model.safetensors"))) {
            assertFalse(f.contains("lm_head.weight"));
            assertFalse(f.contains("model.layers.0.self_attn.o_proj.bias"), "Qwen2 has no o_proj bias");
            assertTrue(f.contains("model.layers.1.self_attn.k_proj.bias"));
            assertTrue(f.tensors().values().stream().allMatch(t -> t.dtype() == DType.BF16));
        }
        assertTrue(Files.readString(dir.resolve("config.json")).contains("\"torch_dtype\" : \"bfloat16\""));
    }

    @Test
    void extraFilesHookWritesIntoTheDirectoryBeforeItAppears() throws IOException {
        Path dir = tmp.resolve("out");
        HfCheckpoints.write(checkpoint(config("MistralForCausalLM", true, false), 3), dir, DType.F16, d -> {
            assertFalse(Files.exists(dir), "the target appears only when complete");
            Files.writeString(d.resolve("tokenizer.json"), "{}");
        });
        assertEquals("{}", Files.readString(dir.resolve("tokenizer.json")));
        assertEquals("MistralForCausalLM", HfCheckpoints.read(dir).config().architecture());
    }

    @Test
    void writingIntoAnEmptyExistingDirectoryIsAllowed() throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("out"));
        HfCheckpoints.write(checkpoint(config("LlamaForCausalLM", true, false), 4), dir, DType.F32);
        assertTrue(Files.isRegularFile(dir.resolve("config.json")));
    }

    @Test
    void writingOverANonEmptyDirectoryIsRefused() throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("out"));
        Files.writeString(dir.resolve("keep.txt"), "mine");
        fails(dir, "exists and is not empty", () -> HfCheckpoints.write(checkpoint(config("LlamaForCausalLM", true, false), 5),
                dir, DType.F32));
        assertEquals("mine", Files.readString(dir.resolve("keep.txt")));
    }

    @Test
    void writingOverAFileIsRefused() throws IOException {
        Path file = Files.writeString(tmp.resolve("out"), "mine");
        fails(file, "exists and is not a directory", () -> HfCheckpoints.write(
                checkpoint(config("LlamaForCausalLM", true, false), 5), file, DType.F32));
    }

    @Test
    void nonDenseLayersFailClearlyAndLeaveNothingBehind() throws IOException {
        LlamaCheckpoint c = checkpoint(config("LlamaForCausalLM", true, false), 6);
        LayerWeights l0 = c.weights().layers().get(0);
        Linear opaque = new Linear() {
            public int inFeatures() {
                return l0.wk().inFeatures();
            }

            public int outFeatures() {
                return l0.wk().outFeatures();
            }

            public void forward(float[] x, float[] y, int rows) {
                l0.wk().forward(x, y, rows);
            }
        };
        List<LayerWeights> layers = new ArrayList<>(c.weights().layers());
        layers.set(0, new LayerWeights(l0.attnNorm(), l0.wq(), opaque, l0.wv(), l0.wo(), l0.ffnNorm(), l0.w1(), l0.w2(), l0.w3()));
        LlamaCheckpoint packed = new LlamaCheckpoint(c.config(), new LlamaWeights(c.weights().tokenEmbedding(), layers,
                c.weights().finalNorm(), c.weights().lmHead()), "test");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HfCheckpoints.write(packed, tmp.resolve("out"), DType.F32));
        assertTrue(e.getMessage().startsWith("model.layers.0.self_attn.k_proj is a "), e.getMessage());
        assertTrue(e.getMessage().contains("only dense (DenseLinear) weights"), e.getMessage());
        try (var s = Files.list(tmp)) {
            assertEquals(0, s.count(), "neither output nor temporary directory");
        }
    }

    // ---- config.json ----

    private static final String CONFIG = """
            {"architectures":["LlamaForCausalLM"],"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,
             "num_attention_heads":2,"num_key_value_heads":1,"vocab_size":10,"max_position_embeddings":32,
             "rms_norm_eps":1e-5,"tie_word_embeddings":true}""";

    private Path config(String json) throws IOException {
        Files.writeString(tmp.resolve("config.json"), json);
        return tmp.resolve("config.json");
    }

    private void configFails(String json, String problem) throws IOException {
        Path file = config(json);
        fails(file, problem, () -> HfCheckpoints.read(tmp));
    }

    @Test
    void defaultsFillTheOptionalFields() throws IOException {
        config(CONFIG.replace("\"num_key_value_heads\":1,", "").replace(",\"tie_word_embeddings\":true", ""));
        LlamaConfig c = HfCheckpoints.readConfig(tmp);
        assertEquals(2, c.nKvHeads(), "kv heads default to heads");
        assertEquals(4, c.headDim(), "head_dim defaults to hidden/heads");
        assertEquals(10000.0, c.ropeTheta());
        assertNull(c.ropeScaling());
        assertFalse(c.tieWordEmbeddings());
        assertFalse(c.attentionBias());
        assertEquals(1, c.bosId());
        assertEquals(2, c.eosId());
        assertEquals(1e-5, c.rmsNormEps());
    }

    @Test
    void eosListTakesItsFirstIdAndQwen2AlwaysHasBiases() throws IOException {
        config(CONFIG.replace("LlamaForCausalLM", "Qwen2ForCausalLM").replace("}", ",\"eos_token_id\":[9,3],\"bos_token_id\":null}"));
        LlamaConfig c = HfCheckpoints.readConfig(tmp);
        assertEquals(9, c.eosId());
        assertEquals(1, c.bosId());
        assertTrue(c.attentionBias());
    }

    @Test
    void defaultRopeTypeMeansNoScaling() throws IOException {
        config(CONFIG.replace("}", ",\"rope_scaling\":{\"rope_type\":\"default\"}}"));
        assertNull(HfCheckpoints.readConfig(tmp).ropeScaling());
    }

    @Test
    void missingConfigIsRejected() {
        fails(tmp, "has no config.json", () -> HfCheckpoints.read(tmp));
    }

    @Test
    void configThatIsNotJsonIsRejected() throws IOException {
        configFails("{\"hidden_size\": 8,", "is not valid JSON");
    }

    @Test
    void configThatIsNotAnObjectIsRejected() throws IOException {
        configFails("[1]", "is not a JSON object");
    }

    @Test
    void configWithoutArchitecturesIsRejected() throws IOException {
        configFails(CONFIG.replace("\"architectures\":[\"LlamaForCausalLM\"],", ""), "has no architectures field");
    }

    @Test
    void unsupportedArchitectureIsRejected() throws IOException {
        configFails(CONFIG.replace("LlamaForCausalLM", "GPT2LMHeadModel"), "architecture GPT2LMHeadModel is not supported");
    }

    @Test
    void configMissingARequiredFieldIsRejected() throws IOException {
        configFails(CONFIG.replace("\"intermediate_size\":16,", ""), "missing required field intermediate_size");
    }

    @Test
    void requiredFieldOfTheWrongTypeIsRejected() throws IOException {
        configFails(CONFIG.replace("\"hidden_size\":8", "\"hidden_size\":\"8\""), "hidden_size must be a positive integer");
    }

    @Test
    void optionalFieldOfTheWrongTypeIsRejected() throws IOException {
        configFails(CONFIG.replace("\"tie_word_embeddings\":true", "\"tie_word_embeddings\":\"yes\""),
                "tie_word_embeddings must be true or false");
    }

    @Test
    void nonPositiveRopeThetaIsRejected() throws IOException {
        configFails(CONFIG.replace("}", ",\"rope_theta\":0}"), "rope_theta must be a positive number");
    }

    @Test
    void ill_typedTokenIdIsRejected() throws IOException {
        configFails(CONFIG.replace("}", ",\"eos_token_id\":\"</s>\"}"), "eos_token_id must be a token id");
    }

    @Test
    void kvHeadsThatDoNotDivideHeadsAreRejected() throws IOException {
        configFails(CONFIG.replace("\"num_key_value_heads\":1", "\"num_key_value_heads\":3"),
                "num_key_value_heads=3 does not divide num_attention_heads=2");
    }

    @Test
    void hiddenNotDivisibleByHeadsWithoutHeadDimIsRejected() throws IOException {
        configFails(CONFIG.replace("\"num_attention_heads\":2,\"num_key_value_heads\":1", "\"num_attention_heads\":3,\"num_key_value_heads\":1"),
                "hidden_size=8 is not divisible by num_attention_heads=3 and there is no head_dim");
    }

    @Test
    void oddHeadDimIsRejected() throws IOException {
        configFails(CONFIG.replace("}", ",\"head_dim\":3}"), "head_dim=3 is odd");
    }

    @Test
    void unsupportedRopeScalingTypeIsRejected() throws IOException {
        configFails(CONFIG.replace("}", ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4.0}}"),
                "rope_scaling type 'yarn' is not supported (only llama3)");
    }

    @Test
    void llama3RopeScalingMissingAFieldIsRejected() throws IOException {
        configFails(CONFIG.replace("}", ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,"
                + "\"low_freq_factor\":1.0,\"original_max_position_embeddings\":8192}}"),
                "rope_scaling.high_freq_factor must be a number");
    }

    // ---- tensors ----

    @Test
    void missingTensorIsRejected() throws IOException {
        config(CONFIG);
        new SafeTensorsWriter().addFloats("model.embed_tokens.weight", DType.F32, new long[] {10, 8}, new float[80])
                .write(tmp.resolve("model.safetensors"));
        fails(tmp, "tensor 'model.layers.0.input_layernorm.weight' is missing", () -> HfCheckpoints.read(tmp));
    }

    @Test
    void tensorShapeDisagreeingWithTheConfigIsRejected() throws IOException {
        config(CONFIG);
        new SafeTensorsWriter().addFloats("model.embed_tokens.weight", DType.F32, new long[] {10, 4}, new float[40])
                .write(tmp.resolve("model.safetensors"));
        fails(tmp.resolve("model.safetensors"), "tensor 'model.embed_tokens.weight' has shape [10, 4] but config.json implies [10, 8]",
                () -> HfCheckpoints.read(tmp));
    }

    @Test
    void integerWeightsAreRejected() throws IOException {
        config(CONFIG);
        new SafeTensorsWriter().addBytes("model.embed_tokens.weight", DType.I8, new long[] {10, 8}, new byte[80])
                .write(tmp.resolve("model.safetensors"));
        fails(tmp.resolve("model.safetensors"), "tensor 'model.embed_tokens.weight' is I8, not a float dtype",
                () -> HfCheckpoints.read(tmp));
    }

    @Test
    void untiedModelWithoutLmHeadIsRejected() throws IOException {
        Path dir = tmp.resolve("m");
        HfCheckpoints.write(checkpoint(config("LlamaForCausalLM", true, false), 7), dir, DType.F32);
        String cfg = Files.readString(dir.resolve("config.json"));
        Files.writeString(dir.resolve("config.json"), cfg.replace("\"tie_word_embeddings\" : true", "\"tie_word_embeddings\" : false"));
        fails(dir, "tensor 'lm_head.weight' is missing", () -> HfCheckpoints.read(dir));
    }

    @Test
    void aConfigWithFewerLayersThanTheCheckpointIsRejectedNamingBoth() throws IOException {
        Path dir = tmp.resolve("fewer");
        HfCheckpoints.write(checkpoint(config("LlamaForCausalLM", true, false), 7), dir, DType.F32);
        String cfg = Files.readString(dir.resolve("config.json"));
        // 2 layers written; config.json says 1: reading evaluated one layer with exit 0
        Files.writeString(dir.resolve("config.json"), cfg.replace("\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 1"));
        fails(dir.resolve("model.safetensors"), "tensor 'model.layers.1.input_layernorm.weight' is a layer beyond"
                + " num_hidden_layers=1 of config.json: the checkpoint and its config.json disagree",
                () -> HfCheckpoints.read(dir));
    }

    @Test
    void anExtraTensorIsRejectedButRopeTablesAreNot() throws IOException {
        Path dir = tmp.resolve("extra");
        LlamaCheckpoint c = checkpoint(config("LlamaForCausalLM", false, false), 7);
        HfCheckpoints.write(c, dir, DType.F32);
        LlamaCheckpoint back = HfCheckpoints.read(dir);
        SafeTensorsWriter w = new SafeTensorsWriter();
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("model.safetensors"))) {
            for (String n : f.names()) {
                w.addFloats(n, DType.F32, f.info(n).shape(), f.floats(n));
            }
        }
        w.addFloats("model.layers.0.self_attn.rotary_emb.inv_freq", DType.F32, new long[] {3}, new float[3]);
        w.write(dir.resolve("model.safetensors"));
        assertEquals(back.config(), HfCheckpoints.read(dir).config(), "a stored RoPE table is recomputed, not an error");
        w.addFloats("model.layers.0.self_attn.q_norm.weight", DType.F32, new long[] {6}, new float[6]);
        w.write(dir.resolve("model.safetensors"));
        fails(dir.resolve("model.safetensors"), "tensor 'model.layers.0.self_attn.q_norm.weight' is not part of a"
                + " LlamaForCausalLM with this config.json (num_hidden_layers=2, tie_word_embeddings=false,"
                + " attention_bias=false): the checkpoint and its config.json disagree", () -> HfCheckpoints.read(dir));
    }

    @Test
    void aConfigWhoseWeightSizesOverflowIsRejected() throws IOException {
        config(CONFIG.replace("\"hidden_size\":8", "\"hidden_size\":1073741824").replace("\"vocab_size\":10",
                "\"vocab_size\":64"));
        fails(tmp.resolve("config.json"), "implies a 1073741824x1073741824 weight, more than the 2147483639 values one"
                + " tensor may hold here",
                () -> HfCheckpoints.read(tmp));
    }

    @Test
    void aKeyGivenTwiceInConfigJsonIsRejectedInTheParsersOwnWords() throws IOException {
        config(CONFIG.replace("\"num_hidden_layers\":1,", "\"num_hidden_layers\":1,\"num_hidden_layers\":2,"));
        InputException e = assertThrows(InputException.class, () -> HfCheckpoints.readConfig(tmp));
        assertTrue(e.getMessage().startsWith(tmp.resolve("config.json") + ": is not valid JSON at line 1: Duplicate field"
                + " 'num_hidden_layers'"), e.getMessage());
        assertFalse(e.getMessage().contains("Source:"), e.getMessage());
    }
}
