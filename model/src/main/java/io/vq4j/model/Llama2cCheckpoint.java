package io.vq4j.model;

import io.vq4j.core.InputException;
import io.vq4j.io.Finite;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The legacy llama2.c checkpoint ("version 0"): seven little-endian int32 (dim, hidden_dim,
 * n_layers, n_heads, n_kv_heads, vocab_size, seq_len) followed by fp32 tensors. A negative
 * vocab_size means the classifier is stored separately at the end.
 *
 * <p>llama2.c rotates interleaved pairs (2j, 2j+1) of each head, while our forward pass uses the
 * Hugging Face rotate_half pairs (j, j + headDim/2); llama2.c's exporter permutes the q/k rows
 * to bridge the two, so here we undo that permutation.
 */
public final class Llama2cCheckpoint {
    private static final int HEADER_BYTES = 7 * Integer.BYTES;
    /** The largest Java float array: each tensor is read into one. */
    static final long MAX_TENSOR_FLOATS = Integer.MAX_VALUE - 8;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Llama2cCheckpoint() {
    }

    /** Reads only the header and checks it against the file size. */
    public static LlamaConfig readConfig(Path file) {
        try (Arena arena = Arena.ofConfined()) {
            return header(map(file, arena), file);
        }
    }

    public static LlamaCheckpoint read(Path file) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = map(file, arena);
            LlamaConfig c = header(seg, file);
            Reader r = new Reader(seg, file, HEADER_BYTES);
            int dim = c.dim();
            int hd = c.headDim();
            int n = c.nLayers();
            float[] embedding = r.floats("token_embedding_table", (long) c.vocabSize() * dim);
            float[][] rmsAtt = r.perLayer("rms_att_weight", n, dim);
            float[][] wq = r.perLayer("wq", n, (long) c.qDim() * dim);
            float[][] wk = r.perLayer("wk", n, (long) c.kvDim() * dim);
            float[][] wv = r.perLayer("wv", n, (long) c.kvDim() * dim);
            float[][] wo = r.perLayer("wo", n, (long) dim * c.qDim());
            float[][] rmsFfn = r.perLayer("rms_ffn_weight", n, dim);
            float[][] w1 = r.perLayer("w1", n, (long) c.hiddenDim() * dim);
            float[][] w2 = r.perLayer("w2", n, (long) dim * c.hiddenDim());
            float[][] w3 = r.perLayer("w3", n, (long) c.hiddenDim() * dim);
            float[] rmsFinal = r.floats("rms_final_weight", dim);
            r.skip((long) c.maxSeqLen() * (hd / 2)); // freq_cis_real: recomputed from rope theta
            r.skip((long) c.maxSeqLen() * (hd / 2)); // freq_cis_imag
            float[] classifier = c.tieWordEmbeddings() ? embedding : r.floats("wcls", (long) c.vocabSize() * dim);
            List<LayerWeights> layers = new ArrayList<>(n);
            for (int l = 0; l < n; l++) {
                layers.add(new LayerWeights(rmsAtt[l],
                        new DenseLinear(toRotateHalf(wq[l], c.nHeads(), hd, dim), null, c.qDim(), dim),
                        new DenseLinear(toRotateHalf(wk[l], c.nKvHeads(), hd, dim), null, c.kvDim(), dim),
                        new DenseLinear(wv[l], null, c.kvDim(), dim),
                        new DenseLinear(wo[l], null, dim, c.qDim()),
                        rmsFfn[l],
                        new DenseLinear(w1[l], null, c.hiddenDim(), dim),
                        new DenseLinear(w2[l], null, dim, c.hiddenDim()),
                        new DenseLinear(w3[l], null, c.hiddenDim(), dim)));
            }
            LlamaWeights w = new LlamaWeights(embedding, List.copyOf(layers), rmsFinal,
                    new DenseLinear(classifier, null, c.vocabSize(), dim));
            return new LlamaCheckpoint(c, w, file.toString());
        }
    }

    /** Within each head, llama2.c row 2j+c becomes HF row c*(headDim/2)+j ({@link RopeLayout}). */
    static float[] toRotateHalf(float[] w, int heads, int headDim, int cols) {
        return RopeLayout.toRotateHalf(w, heads, headDim, cols);
    }

    private static MemorySegment map(Path file, Arena arena) {
        if (!Files.isRegularFile(file)) {
            throw InputException.at(file, "no such file");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (IOException e) {
            throw InputException.at(file, "cannot read: " + e.getMessage());
        }
    }

    private static LlamaConfig header(MemorySegment seg, Path file) {
        if (seg.byteSize() < HEADER_BYTES) {
            throw InputException.at(file, "too short for a llama2.c checkpoint header (" + seg.byteSize()
                    + " bytes, need " + HEADER_BYTES + ")");
        }
        int dim = seg.get(INT, 0);
        int hidden = seg.get(INT, 4);
        int layers = seg.get(INT, 8);
        int heads = seg.get(INT, 12);
        int kvHeads = seg.get(INT, 16);
        int vocab = seg.get(INT, 20);
        int seqLen = seg.get(INT, 24);
        boolean shared = vocab > 0;
        vocab = Math.abs(vocab);
        if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocab <= 0 || seqLen <= 0) {
            throw InputException.at(file, "not a llama2.c checkpoint: header has non-positive values (dim=" + dim
                    + ", hidden_dim=" + hidden + ", n_layers=" + layers + ", n_heads=" + heads + ", n_kv_heads="
                    + kvHeads + ", vocab_size=" + vocab + ", seq_len=" + seqLen + ")");
        }
        if (dim % heads != 0 || (dim / heads) % 2 != 0) {
            throw InputException.at(file, "n_heads=" + heads + " does not split dim=" + dim + " into even head sizes");
        }
        if (heads % kvHeads != 0) {
            throw InputException.at(file, "n_kv_heads=" + kvHeads + " does not divide n_heads=" + heads);
        }
        int hd = dim / heads;
        // exact long arithmetic: a crafted header whose sizes overflow must not wrap around to
        // the file's size and then allocate gigabytes
        long expected;
        long largest;
        try {
            long dd = Math.multiplyExact((long) dim, dim);
            long kv = Math.multiplyExact(Math.multiplyExact((long) kvHeads, hd), dim);
            long ffn = Math.multiplyExact((long) dim, hidden);
            long embed = Math.multiplyExact((long) vocab, dim);
            long perLayer = Math.addExact(Math.addExact(Math.addExact(2L * dim, Math.multiplyExact(dd, 2)),
                    Math.multiplyExact(kv, 2)), Math.multiplyExact(ffn, 3));
            long rope = Math.multiplyExact(2L * seqLen, hd / 2);
            long floats = Math.addExact(Math.addExact(Math.addExact(embed, Math.multiplyExact(perLayer, layers)), dim),
                    rope);
            if (!shared) {
                floats = Math.addExact(floats, embed);
            }
            expected = Math.addExact(HEADER_BYTES, Math.multiplyExact(floats, Float.BYTES));
            largest = Math.max(Math.max(dd, kv), Math.max(ffn, embed));
        } catch (ArithmeticException e) {
            throw InputException.at(file, "not a llama2.c checkpoint: the header (dim=" + dim + ", hidden_dim=" + hidden
                    + ", n_layers=" + layers + ", n_kv_heads=" + kvHeads + ", vocab_size=" + vocab + ", seq_len="
                    + seqLen + ") implies more than 2^63 bytes");
        }
        if (seg.byteSize() != expected) {
            throw InputException.at(file, (seg.byteSize() < expected ? "truncated" : "has trailing bytes")
                    + ": " + seg.byteSize() + " bytes, the header (dim=" + dim + ", n_layers=" + layers
                    + ", vocab_size=" + vocab + ") implies " + expected);
        }
        if (largest > MAX_TENSOR_FLOATS) {
            throw InputException.at(file, "a tensor of " + largest + " floats is more than this reader holds in one"
                    + " array (" + MAX_TENSOR_FLOATS + ")");
        }
        return new LlamaConfig("llama2c", dim, hidden, layers, heads, kvHeads, hd, vocab, seqLen, 10000.0, null,
                1e-5, shared, false, 1, 2);
    }

    private static final class Reader {
        private final MemorySegment seg;
        private final Path file;
        private long pos;

        Reader(MemorySegment seg, Path file, long pos) {
            this.seg = seg;
            this.file = file;
            this.pos = pos;
        }

        float[] floats(String tensor, long count) {
            float[] out = new float[Math.toIntExact(count)];
            MemorySegment.copy(seg, FLOAT, pos, out, 0, out.length);
            int bad = Finite.firstNonFinite(out);
            if (bad >= 0) {
                throw InputException.at(file, "tensor " + tensor + " has a non-finite value (" + out[bad] + ") at index "
                        + bad + " (byte " + (pos + (long) bad * Float.BYTES) + ")");
            }
            pos += count * Float.BYTES;
            return out;
        }

        float[][] perLayer(String tensor, int layers, long each) {
            float[][] out = new float[layers][];
            for (int l = 0; l < layers; l++) {
                out[l] = floats(tensor + "[" + l + "]", each);
            }
            return out;
        }

        void skip(long count) {
            pos += count * Float.BYTES;
        }
    }
}
