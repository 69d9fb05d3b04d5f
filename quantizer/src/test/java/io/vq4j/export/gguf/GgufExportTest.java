package io.vq4j.export.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.io.DType;
import io.vq4j.io.gguf.GgmlType;
import io.vq4j.io.gguf.GgufFile;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.GgufCheckpoint;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.Linear;
import io.vq4j.model.Llama2cCheckpoint;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.RopeLayout;
import io.vq4j.model.SyntheticModel;
import io.vq4j.testing.InputErrors;
import io.vq4j.testing.SharedData;
import io.vq4j.testing.SyntheticCheckpoints;
import io.vq4j.tokenizer.GgufVocab;
import io.vq4j.tokenizer.Llama2cTokenizer;
import io.vq4j.tokenizer.Tokenizer;
import io.vq4j.tokenizer.Tokenizers;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The GGUF export read back by vq4j's own GGUF loader: layout, weights, configuration, vocabulary, refusals. */
class GgufExportTest {
    @TempDir
    static Path tmp;
    static LlamaCheckpoint stories;
    static Llama2cTokenizer tok512;
    static GgufVocab vocab;

    @BeforeAll
    static void read() {
        stories = Llama2cCheckpoint.read(SharedData.stories260K());
        tok512 = Llama2cTokenizer.read(SharedData.tok512());
        vocab = GgufVocab.of(tok512);
    }

    static float[] w(Linear l) {
        return ((DenseLinear) l).weight();
    }

    /** What storing {@code x} as {@code t} and decoding it gives. */
    static float[] roundTrip(GgmlType t, float[] x) {
        ByteBuffer b = ByteBuffer.allocate((int) t.bytes(x.length)).order(ByteOrder.LITTLE_ENDIAN);
        t.encode(x, 0, x.length, b);
        float[] out = new float[x.length];
        t.decode(MemorySegment.ofArray(b.array()), 0, out, 0, x.length);
        return out;
    }

    @Test
    void f32ExportReadsBackBitForBitWithTheSameConfigAndTokenizer() throws IOException {
        Path file = tmp.resolve("f32.gguf");
        GgufExport.Result r = GgufExport.write(stories, vocab, GgmlType.F32, file);
        assertEquals(Files.size(file), r.bytes());
        assertEquals(47, r.tensors().size(), "embedding, 9 per block, final norm; no output (tied)");
        assertTrue(r.fallbacks().isEmpty());
        LlamaCheckpoint back = GgufCheckpoint.read(file);
        LlamaConfig a = stories.config();
        LlamaConfig b = back.config();
        assertEquals(new LlamaConfig("LlamaForCausalLM", a.dim(), a.hiddenDim(), a.nLayers(), a.nHeads(), a.nKvHeads(),
                a.headDim(), a.vocabSize(), a.maxSeqLen(), a.ropeTheta(), null, a.rmsNormEps(), true, false, 1, 2), b);
        assertArrayEquals(stories.weights().tokenEmbedding(), back.weights().tokenEmbedding());
        assertArrayEquals(stories.weights().finalNorm(), back.weights().finalNorm());
        for (int i = 0; i < a.nLayers(); i++) {
            LayerWeights x = stories.weights().layers().get(i);
            LayerWeights y = back.weights().layers().get(i);
            assertArrayEquals(x.attnNorm(), y.attnNorm());
            assertArrayEquals(x.ffnNorm(), y.ffnNorm());
            for (Linear[] p : new Linear[][] {{x.wq(), y.wq()}, {x.wk(), y.wk()}, {x.wv(), y.wv()}, {x.wo(), y.wo()},
                    {x.w1(), y.w1()}, {x.w2(), y.w2()}, {x.w3(), y.w3()}}) {
                assertArrayEquals(w(p[0]), w(p[1]), "block " + i);
            }
        }
        Tokenizer t = Tokenizers.forModel(file, null);
        String text = Files.readString(SharedData.tinyStoriesVal()).substring(0, 20_000);
        assertArrayEquals(tok512.encode(text, true), t.encode(text, true));
    }

    /** The file as llama.cpp reads it: metadata, tensor names, ggml shapes and types, aligned offsets. */
    @Test
    void theFileHasLlamaCppsKeysNamesShapesAndAlignment() {
        Path file = tmp.resolve("layout-q4_0.gguf");
        GgufExport.write(stories, vocab, GgmlType.Q4_0, file);
        try (GgufFile f = GgufFile.open(file)) {
            assertEquals(3, f.version());
            assertEquals("llama", f.string("general.architecture"));
            assertEquals(2, f.integer("general.file_type"), "LLAMA_FTYPE_MOSTLY_Q4_0");
            assertEquals(32, f.integer("general.alignment"));
            assertEquals(64, f.integer("llama.embedding_length"));
            assertEquals(172, f.integer("llama.feed_forward_length"));
            assertEquals(5, f.integer("llama.block_count"));
            assertEquals(512, f.integer("llama.context_length"));
            assertEquals(8, f.integer("llama.rope.dimension_count"));
            assertEquals(8, f.integer("llama.attention.head_count"));
            assertEquals(4, f.integer("llama.attention.head_count_kv"));
            assertEquals(1e-5f, (float) f.real("llama.attention.layer_norm_rms_epsilon"));
            assertEquals(10000.0, f.real("llama.rope.freq_base"));
            assertEquals("llama", f.string("tokenizer.ggml.model"));
            assertEquals(512, f.strings("tokenizer.ggml.tokens").length);
            assertEquals(1, f.integer("tokenizer.ggml.bos_token_id"));
            assertEquals(2, f.integer("tokenizer.ggml.eos_token_id"));
            assertArrayEquals(new long[] {64, 512}, f.tensor("token_embd.weight").dims());
            assertArrayEquals(new long[] {64, 32}, f.tensor("blk.0.attn_k.weight").dims());
            assertArrayEquals(new long[] {172, 64}, f.tensor("blk.4.ffn_down.weight").dims());
            assertEquals(GgmlType.Q4_0, f.tensor("blk.3.ffn_gate.weight").type());
            assertEquals(GgmlType.F16, f.tensor("blk.3.ffn_down.weight").type(), "rows of 172 are not whole blocks");
            assertEquals(GgmlType.F32, f.tensor("blk.3.ffn_norm.weight").type());
            assertNull(f.tensor("output.weight"), "tied");
            for (GgufFile.Tensor t : f.tensors().values()) {
                assertEquals(0, t.offset() % 32, t.name());
            }
        }
    }

    /** Quantized weights read back as the codec's round trip of the originals, q/k in llama.cpp's order. */
    @Test
    void quantizedExportsReadBackAsTheCodecRoundTrip() {
        for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.F16}) {
            Path file = tmp.resolve("rt-" + t.ggmlName() + ".gguf");
            GgufExport.Result r = GgufExport.write(stories, vocab, t, file);
            assertEquals(t.isQuantized() ? 5 : 0, r.fallbacks().size(), t.toString());
            LlamaCheckpoint back = GgufCheckpoint.read(file);
            LlamaConfig c = stories.config();
            assertArrayEquals(roundTrip(t, stories.weights().tokenEmbedding()), back.weights().tokenEmbedding());
            for (int i = 0; i < c.nLayers(); i++) {
                LayerWeights x = stories.weights().layers().get(i);
                LayerWeights y = back.weights().layers().get(i);
                assertArrayEquals(x.attnNorm(), y.attnNorm());
                float[] q = RopeLayout.toInterleaved(w(x.wq()), c.nHeads(), c.headDim(), c.dim());
                assertArrayEquals(RopeLayout.toRotateHalf(roundTrip(t, q), c.nHeads(), c.headDim(), c.dim()),
                        w(y.wq()));
                float[] k = RopeLayout.toInterleaved(w(x.wk()), c.nKvHeads(), c.headDim(), c.dim());
                assertArrayEquals(RopeLayout.toRotateHalf(roundTrip(t, k), c.nKvHeads(), c.headDim(), c.dim()),
                        w(y.wk()));
                assertArrayEquals(roundTrip(t, w(x.wv())), w(y.wv()));
                assertArrayEquals(roundTrip(t, w(x.w1())), w(y.w1()));
                assertArrayEquals(roundTrip(GgmlType.F16, w(x.w2())), w(y.w2()), "f16 fallback");
            }
        }
    }

    /** A model with its own output head, GQA and a Hugging Face source: output.weight is written and read. */
    @Test
    void anUntiedHfModelRoundTrips() throws IOException {
        Path dir = tmp.resolve("hf-untied");
        SyntheticCheckpoints.write(new SyntheticCheckpoints.Spec("LlamaForCausalLM", 64, 96, 2, 4, 2, 512, 64, false,
                false, false, List.of(DType.F32), 1, 11), dir);
        LlamaCheckpoint src = HfCheckpoints.read(dir);
        Path file = tmp.resolve("untied.gguf");
        GgufExport.write(src, vocab, GgmlType.F32, file);
        LlamaCheckpoint back = GgufCheckpoint.read(file);
        assertFalse(back.config().tieWordEmbeddings());
        assertArrayEquals(w(src.weights().lmHead()), w(back.weights().lmHead()));
        assertArrayEquals(w(src.weights().layers().get(1).wk()), w(back.weights().layers().get(1).wk()));
        assertEquals(src.config().rmsNormEps(), back.config().rmsNormEps(), "1e-6 survives the fp32 field");
    }

    @Test
    void exportRefusesWhatItCannotWriteInOneLine() throws IOException {
        Path scaled = tmp.resolve("hf-scaled");
        SyntheticCheckpoints.write(new SyntheticCheckpoints.Spec("LlamaForCausalLM", 32, 64, 1, 4, 1, 512, 64, false,
                true, true, List.of(DType.F32), 1, 1), scaled);
        Path out = tmp.resolve("x.gguf");
        InputErrors.fails(scaled, "RoPE scaling",
                () -> GgufExport.write(HfCheckpoints.read(scaled), vocab, GgmlType.F32, out));
        Path qwen = tmp.resolve("hf-qwen");
        SyntheticCheckpoints.write(new SyntheticCheckpoints.Spec("Qwen2ForCausalLM", 32, 64, 1, 4, 1, 512, 64, true,
                true, false, List.of(DType.F32), 1, 1), qwen);
        InputErrors.fails(qwen, "attention biases",
                () -> GgufExport.write(HfCheckpoints.read(qwen), vocab, GgmlType.F32, out));
        Path bin = tmp.resolve("x.bin");
        InputErrors.fails(bin, "must end with .gguf", () -> GgufExport.write(stories, vocab, GgmlType.F32, bin));
        Path small = tmp.resolve("hf-small-vocab");
        SyntheticCheckpoints.write(new SyntheticCheckpoints.Spec("LlamaForCausalLM", 32, 64, 1, 4, 1, 300, 64, false,
                true, false, List.of(DType.F32), 1, 1), small);
        InputErrors.fails(small, "the tokenizer has 512 tokens but the model's vocabulary is 300",
                () -> GgufExport.write(HfCheckpoints.read(small), vocab, GgmlType.F32, out));
        assertFalse(Files.exists(out), "nothing written");
    }

    /** A stories260K f32 GGUF with {@code edit} applied to its metadata or tensors before writing. */
    static Path edited(String name, UnaryOperator<GgufWriter> metadata, boolean extraTensor, boolean dropHeadNorm) {
        GgufWriter w = metadata.apply(new GgufWriter());
        Path good = tmp.resolve("good-" + name + ".gguf");
        GgufExport.write(stories, vocab, GgmlType.F32, good);
        try (GgufFile f = GgufFile.open(good)) {
            for (GgufFile.Tensor t : f.tensors().values()) {
                if (dropHeadNorm && t.name().equals("output_norm.weight")) {
                    continue;
                }
                float[] v = f.floats(t);
                long[] dims = t.name().equals("blk.0.attn_norm.weight") && name.equals("shape") ? new long[] {32, 2}
                        : t.dims();
                w.tensor(new GgufWriter.Tensor(t.name(), dims, t.type(), () -> v));
            }
        }
        if (extraTensor) {
            w.tensor(new GgufWriter.Tensor("blk.0.attn_q.bias", new long[] {64}, GgmlType.F32, () -> new float[64]));
        }
        Path p = tmp.resolve(name + ".gguf");
        w.write(p);
        return p;
    }

    static GgufWriter llama(GgufWriter w, String arch, boolean withDim, String ropeScaling) {
        w.string("general.architecture", arch).u32("llama.context_length", 512).u32("llama.block_count", 5)
                .u32("llama.feed_forward_length", 172).u32("llama.attention.head_count", 8)
                .u32("llama.attention.head_count_kv", 4).f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        if (withDim) {
            w.u32("llama.embedding_length", 64);
        }
        if (ropeScaling != null) {
            w.string("llama.rope.scaling.type", ropeScaling);
        }
        return w;
    }

    @Test
    void theLoaderRefusesWhatItWouldRunDifferentlyInOneLine() {
        Path arch = edited("arch", w -> llama(w, "qwen3", true, null), false, false);
        InputErrors.fails(arch, "general.architecture is \"qwen3\"", () -> GgufCheckpoint.read(arch));
        Path dim = edited("dim", w -> llama(w, "llama", false, null), false, false);
        InputErrors.fails(dim, "metadata key 'llama.embedding_length' is missing", () -> GgufCheckpoint.read(dim));
        Path rope = edited("rope", w -> llama(w, "llama", true, "linear"), false, false);
        InputErrors.fails(rope, "rope.scaling.type \"linear\"", () -> GgufCheckpoint.read(rope));
        Path shape = edited("shape", w -> llama(w, "llama", true, null), false, false);
        InputErrors.fails(shape, "tensor 'blk.0.attn_norm.weight' has shape [32, 2]", () -> GgufCheckpoint.read(shape));
        Path extra = edited("extra", w -> llama(w, "llama", true, null), true, false);
        InputErrors.fails(extra, "tensor 'blk.0.attn_q.bias' is not part of", () -> GgufCheckpoint.read(extra));
        Path missing = edited("missing", w -> llama(w, "llama", true, null), false, true);
        InputErrors.fails(missing, "tensor 'output_norm.weight' is missing", () -> GgufCheckpoint.read(missing));
        Path noVocab = edited("novocab", w -> llama(w, "llama", true, null), false, false);
        InputErrors.fails(noVocab, "tokenizer.ggml.model is \"(none)\"", () -> Tokenizers.forModel(noVocab, null));
    }

    /**
     * Weights handed over already encoded (as GPTQ onto the grid hands them, rows in the
     * checkpoint's order) are written as those bytes with the q/k rows reordered like the rest:
     * encoding every decoder linear with the reference rounding that way gives the very file
     * of the plain export, for a 32-value type (stories260K) and for q4_K (a synthetic model).
     */
    @Test
    void preEncodedWeightsGiveTheBytesOfThePlainExport() throws IOException {
        LlamaCheckpoint synth = SyntheticModel.create(SyntheticModel.config(256, 512, 1, 4, 2, 512, 64), 3);
        for (var c : List.of(new Object[] {stories, GgmlType.Q4_1}, new Object[] {synth, GgmlType.Q4_K})) {
            LlamaCheckpoint m = (LlamaCheckpoint) c[0];
            GgmlType t = (GgmlType) c[1];
            Map<String, GridGptq.Encoded> enc = new HashMap<>();
            String[] linears = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
            for (int b = 0; b < m.config().nLayers(); b++) {
                for (String l : linears) {
                    DenseLinear d = (DenseLinear) m.weights().layers().get(b).linear(l);
                    enc.put(GridCalibration.ggufName(b, l), GridGptq.round(d.weight(), d.outFeatures(),
                            d.inFeatures(), t));
                }
            }
            Path plain = tmp.resolve("plain-" + t.ggmlName() + ".gguf");
            Path pre = tmp.resolve("pre-" + t.ggmlName() + ".gguf");
            GgufExport.write(m, vocab, t, plain);
            GgufExport.write(m, vocab, t, name -> t, enc, pre);
            // the files differ only in general.name (from the file name): compare the tensor data
            try (GgufFile a = GgufFile.open(plain); GgufFile b = GgufFile.open(pre)) {
                assertEquals(a.tensors().keySet(), b.tensors().keySet());
                for (GgufFile.Tensor x : a.tensors().values()) {
                    GgufFile.Tensor y = b.tensors().get(x.name());
                    assertEquals(x.type(), y.type(), x.name());
                    assertArrayEquals(a.data(x).toArray(ValueLayout.JAVA_BYTE),
                            b.data(y).toArray(ValueLayout.JAVA_BYTE), x.name());
                }
            }
        }
    }
}
