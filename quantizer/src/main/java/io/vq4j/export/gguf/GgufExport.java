package io.vq4j.export.gguf;

import io.vq4j.core.InputException;
import io.vq4j.io.gguf.GgmlType;
import io.vq4j.io.gguf.GgufFile;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.GgufCheckpoint;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.Linear;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.RopeLayout;
import io.vq4j.tokenizer.GgufVocab;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A vq4j model as a Llama-architecture GGUF v3 file that llama.cpp loads: the {@code llama.*}
 * hyper-parameters, the sentencepiece-style vocabulary ({@link GgufVocab}), and the tensors
 * under llama.cpp's names with the q/k rows in llama.cpp's interleaved RoPE order. Every 2-D
 * weight (token_embd included) is stored as the chosen type; a weight whose rows are not whole
 * blocks of it falls back as llama.cpp's own quantizer does ({@link GgmlType#fallback}: q4_K to
 * q5_0, a 32-value type to f16); norms stay f32.
 * {@code output.weight} is left out when the head is tied to the embedding.
 */
public final class GgufExport {
    /** Where a tensor went, for the report: its row-major shape, the type asked for and the type stored. */
    public record Stored(String name, long[] shape, GgmlType requested, GgmlType type, long bytes) {
    }

    public record Result(Path file, long bytes, GgmlType type, List<Stored> tensors, long weights) {
        /** Bits per value over the 2-D weights (every byte of their data, none of the header). */
        public double weightBitsPerValue() {
            long bytes = 0;
            long values = 0;
            for (Stored s : tensors) {
                if (s.shape().length == 2) {
                    bytes += s.bytes();
                    values += s.shape()[0] * s.shape()[1];
                }
            }
            return 8.0 * bytes / values;
        }

        /** The 2-D weights that could not be stored as the requested type. */
        public List<Stored> fallbacks() {
            return tensors.stream().filter(s -> s.type() != s.requested()).toList();
        }
    }

    private GgufExport() {
    }

    /** llama.cpp's general.file_type for a model "mostly" of {@code type} (llama_ftype). */
    static int fileType(GgmlType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q4_K -> 14; // LLAMA_FTYPE_MOSTLY_Q4_K_S: every quantized tensor q4_K (or its fallback)
            case Q6_K -> 18;
        };
    }

    public static Result write(LlamaCheckpoint ckpt, GgufVocab vocab, GgmlType type, Path out) {
        return write(ckpt, vocab, type, name -> type, out);
    }

    public static Result write(LlamaCheckpoint ckpt, GgufVocab vocab, GgmlType type, Function<String, GgmlType> typeOf,
                               Path out) {
        return write(ckpt, vocab, type, typeOf, Map.of(), out);
    }

    /**
     * As {@link #write(LlamaCheckpoint, GgufVocab, GgmlType, Path)}, with the type of each 2-D
     * weight chosen by name ({@code typeOf}, e.g. only "token_embd.weight" quantized, as
     * llama.cpp's --token-embedding-type does); {@code type} is the file's general.file_type.
     * Weights named in {@code encoded} (GGUF names, rows in the checkpoint's order) are written
     * as those bytes (GPTQ onto the grid, {@link GridGptq}), q/k rows reordered as for the others.
     */
    public static Result write(LlamaCheckpoint ckpt, GgufVocab vocab, GgmlType type, Function<String, GgmlType> typeOf,
                               Map<String, GridGptq.Encoded> encoded, Path out) {
        if (!GgufFile.isGguf(out)) {
            throw InputException.at(out, "--out must end with .gguf (vq reads GGUF models by that extension)");
        }
        if (Files.isDirectory(out)) {
            throw InputException.at(out, "is a directory; --out names the .gguf file to write");
        }
        LlamaConfig c = ckpt.config();
        if (c.ropeScaling() != null) {
            throw InputException.at(ckpt.source(), "uses " + c.ropeScaling().type() + " RoPE scaling, which the GGUF"
                    + " export does not write yet");
        }
        if (c.attentionBias()) {
            throw InputException.at(ckpt.source(), "has attention biases, which the GGUF export does not write yet");
        }
        if (vocab.tokens().length != c.vocabSize()) {
            throw InputException.at(ckpt.source(), "the tokenizer has " + vocab.tokens().length
                    + " tokens but the model's vocabulary is " + c.vocabSize());
        }
        GgufWriter w = new GgufWriter();
        metadata(w, c, vocab, type, out);
        tensors(w, ckpt, typeOf, encoded);
        long bytes = w.write(out);
        List<Stored> stored = new ArrayList<>();
        long weights = 0;
        for (GgufWriter.Tensor t : w.tensors()) {
            long[] shape = new long[t.dims().length];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = t.dims()[shape.length - 1 - i];
            }
            GgmlType requested = shape.length == 2 ? typeOf.apply(t.name()) : t.type();
            stored.add(new Stored(t.name(), shape, requested, t.type(), t.bytes()));
            weights += t.elements();
        }
        return new Result(out, bytes, type, List.copyOf(stored), weights);
    }

    private static void metadata(GgufWriter w, LlamaConfig c, GgufVocab v, GgmlType type, Path out) {
        String a = GgufCheckpoint.ARCHITECTURE + ".";
        String name = out.getFileName().toString().replaceFirst("(?i)\\.gguf$", "");
        w.string("general.architecture", GgufCheckpoint.ARCHITECTURE)
                .string("general.name", name)
                .u32("general.file_type", fileType(type))
                .u32("general.alignment", GgufFile.DEFAULT_ALIGNMENT);
        if (type.isQuantized()) {
            w.u32("general.quantization_version", 2);
        }
        w.u32(a + "vocab_size", c.vocabSize())
                .u32(a + "context_length", c.maxSeqLen())
                .u32(a + "embedding_length", c.dim())
                .u32(a + "block_count", c.nLayers())
                .u32(a + "feed_forward_length", c.hiddenDim())
                .u32(a + "rope.dimension_count", c.headDim())
                .u32(a + "attention.head_count", c.nHeads())
                .u32(a + "attention.head_count_kv", c.nKvHeads());
        if (c.headDim() * c.nHeads() != c.dim()) {
            w.u32(a + "attention.key_length", c.headDim()).u32(a + "attention.value_length", c.headDim());
        }
        w.f32(a + "attention.layer_norm_rms_epsilon", (float) c.rmsNormEps())
                .f32(a + "rope.freq_base", (float) c.ropeTheta());
        w.string("tokenizer.ggml.model", GgufVocab.MODEL)
                .strings("tokenizer.ggml.tokens", v.tokens())
                .f32s("tokenizer.ggml.scores", v.scores())
                .i32s("tokenizer.ggml.token_type", v.types())
                .u32("tokenizer.ggml.bos_token_id", v.bos())
                .u32("tokenizer.ggml.eos_token_id", v.eos());
        if (v.unk() >= 0) {
            w.u32("tokenizer.ggml.unknown_token_id", v.unk());
        }
        w.bool("tokenizer.ggml.add_bos_token", true).bool("tokenizer.ggml.add_eos_token", false);
    }

    private static void tensors(GgufWriter w, LlamaCheckpoint ckpt, Function<String, GgmlType> typeOf,
                                Map<String, GridGptq.Encoded> encoded) {
        LlamaConfig c = ckpt.config();
        Function<String, GgmlType> type = name -> {
            GridGptq.Encoded e = encoded.get(name);
            return e != null ? e.type() : typeOf.apply(name);
        };
        int d = c.dim();
        float[] embedding = ckpt.weights().tokenEmbedding();
        w.tensor(matrix("token_embd.weight", c.vocabSize(), d, type, () -> embedding));
        for (int i = 0; i < c.nLayers(); i++) {
            LayerWeights l = ckpt.weights().layers().get(i);
            String b = "blk." + i + ".";
            w.tensor(vector(b + "attn_norm.weight", l.attnNorm()));
            RowOrder q = x -> RopeLayout.toInterleaved(x, c.nHeads(), c.headDim(), d);
            RowOrder k = x -> RopeLayout.toInterleaved(x, c.nKvHeads(), c.headDim(), d);
            w.tensor(matrix(b + "attn_q.weight", type, l.wq(), q, encoded));
            w.tensor(matrix(b + "attn_k.weight", type, l.wk(), k, encoded));
            w.tensor(matrix(b + "attn_v.weight", type, l.wv(), x -> x, encoded));
            w.tensor(matrix(b + "attn_output.weight", type, l.wo(), x -> x, encoded));
            w.tensor(vector(b + "ffn_norm.weight", l.ffnNorm()));
            w.tensor(matrix(b + "ffn_gate.weight", type, l.w1(), x -> x, encoded));
            w.tensor(matrix(b + "ffn_down.weight", type, l.w2(), x -> x, encoded));
            w.tensor(matrix(b + "ffn_up.weight", type, l.w3(), x -> x, encoded));
        }
        w.tensor(vector("output_norm.weight", ckpt.weights().finalNorm()));
        if (!c.tieWordEmbeddings()) {
            w.tensor(matrix("output.weight", type, ckpt.weights().lmHead(), x -> x, encoded));
        }
    }

    private static GgufWriter.Tensor vector(String name, float[] v) {
        return new GgufWriter.Tensor(name, new long[] {v.length}, GgmlType.F32, () -> v);
    }

    private static GgufWriter.Tensor matrix(String name, Function<String, GgmlType> type, Linear l, RowOrder order,
                                            Map<String, GridGptq.Encoded> encoded) {
        GridGptq.Encoded e = encoded.get(name);
        if (e != null) {
            if (e.rows() != l.outFeatures() || e.cols() != l.inFeatures()) {
                throw new IllegalArgumentException(name + ": encoded as " + e.rows() + "x" + e.cols()
                        + ", the model has " + l.outFeatures() + "x" + l.inFeatures());
            }
            return new GgufWriter.Tensor(name, new long[] {e.cols(), e.rows()}, e.type(), null,
                    () -> reorderRows(e, order));
        }
        if (!(l instanceof DenseLinear dl)) {
            throw new IllegalArgumentException(name + " is a " + l.getClass().getSimpleName() + ", not dense weights");
        }
        // weight() unpacks a copy: only when the tensor is written
        return matrix(name, dl.outFeatures(), dl.inFeatures(), type, () -> order.apply(dl.weight()));
    }

    private static GgufWriter.Tensor matrix(String name, int rows, int cols, Function<String, GgmlType> typeOf,
                                            Supplier<float[]> values) {
        GgmlType stored = typeOf.apply(name);
        while (cols % stored.blockSize() != 0) {
            stored = stored.fallback();
        }
        return new GgufWriter.Tensor(name, new long[] {cols, rows}, stored, values);
    }

    /**
     * The encoded rows in the order {@code order} puts rows in: found by reordering a matrix
     * whose every value is its row's index (exact in a float for any real row count).
     */
    private static byte[] reorderRows(GridGptq.Encoded e, RowOrder order) {
        float[] index = new float[e.rows()];
        for (int r = 0; r < index.length; r++) {
            index[r] = r;
        }
        float[] moved = order.apply(tile(index, e.cols()));
        int rowBytes = (int) e.type().bytes(e.cols());
        byte[] out = new byte[e.data().length];
        for (int r = 0; r < e.rows(); r++) {
            System.arraycopy(e.data(), (int) moved[r * e.cols()] * rowBytes, out, r * rowBytes, rowBytes);
        }
        return out;
    }

    private static float[] tile(float[] rowIndex, int cols) {
        float[] m = new float[rowIndex.length * cols];
        for (int r = 0; r < rowIndex.length; r++) {
            Arrays.fill(m, r * cols, (r + 1) * cols, rowIndex[r]);
        }
        return m;
    }

    @FunctionalInterface
    private interface RowOrder {
        float[] apply(float[] rowMajor);
    }
}
