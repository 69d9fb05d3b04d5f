package io.vq4j.model;

import io.vq4j.core.InputException;
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
            Reader r = new Reader(seg, HEADER_BYTES);
            int dim = c.dim();
            int hd = c.headDim();
            int n = c.nLayers();
            float[] embedding = r.floats((long) c.vocabSize() * dim);
            float[][] rmsAtt = r.perLayer(n, dim);
            float[][] wq = r.perLayer(n, (long) c.qDim() * dim);
            float[][] wk = r.perLayer(n, (long) c.kvDim() * dim);
            float[][] wv = r.perLayer(n, (long) c.kvDim() * dim);
            float[][] wo = r.perLayer(n, (long) dim * c.qDim());
            float[][] rmsFfn = r.perLayer(n, dim);
            float[][] w1 = r.perLayer(n, (long) c.hiddenDim() * dim);
            float[][] w2 = r.perLayer(n, (long) dim * c.hiddenDim());
            float[][] w3 = r.perLayer(n, (long) c.hiddenDim() * dim);
            float[] rmsFinal = r.floats(dim);
            r.skip((long) c.maxSeqLen() * (hd / 2)); // freq_cis_real: recomputed from rope theta
            r.skip((long) c.maxSeqLen() * (hd / 2)); // freq_cis_imag
            float[] classifier = c.tieWordEmbeddings() ? embedding : r.floats((long) c.vocabSize() * dim);
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
        long floats = (long) vocab * dim
                + (long) layers * (2L * dim + (long) dim * dim * 2 + 2L * (long) kvHeads * hd * dim
                + 3L * dim * hidden)
                + dim + 2L * seqLen * (hd / 2);
        if (!shared) {
            floats += (long) vocab * dim;
        }
        long expected = HEADER_BYTES + floats * Float.BYTES;
        if (seg.byteSize() != expected) {
            throw InputException.at(file, (seg.byteSize() < expected ? "truncated" : "has trailing bytes")
                    + ": " + seg.byteSize() + " bytes, the header (dim=" + dim + ", n_layers=" + layers
                    + ", vocab_size=" + vocab + ") implies " + expected);
        }
        return new LlamaConfig("llama2c", dim, hidden, layers, heads, kvHeads, hd, vocab, seqLen, 10000.0, null,
                1e-5, shared, false, 1, 2);
    }

    private static final class Reader {
        private final MemorySegment seg;
        private long pos;

        Reader(MemorySegment seg, long pos) {
            this.seg = seg;
            this.pos = pos;
        }

        float[] floats(long count) {
            float[] out = new float[Math.toIntExact(count)];
            MemorySegment.copy(seg, FLOAT, pos, out, 0, out.length);
            pos += count * Float.BYTES;
            return out;
        }

        float[][] perLayer(int layers, long each) {
            float[][] out = new float[layers][];
            for (int l = 0; l < layers; l++) {
                out[l] = floats(each);
            }
            return out;
        }

        void skip(long count) {
            pos += count * Float.BYTES;
        }
    }
}
