package io.vq4j.model.minilm;

import io.vq4j.core.InputException;
import io.vq4j.io.OnnxFile;
import io.vq4j.io.OnnxFile.Node;
import io.vq4j.io.OnnxFile.Tensor;
import io.vq4j.tokenizer.WordPiece;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds a Hugging Face BERT encoder's weights in its ONNX export (torch.onnx, as in
 * Xenova/all-MiniLM-L6-v2). Embedding tables, LayerNorms and biases keep their PyTorch names
 * ({@code encoder.layer.3.intermediate.dense.bias}); the linear weights are anonymous
 * ({@code onnx::MatMul_798}) and stored [in, out], since the exporter folds the transpose of
 * x·Wᵀ into them. So each weight is found by following the graph: a MatMul whose second input
 * is an initializer, and the Add after it that brings a named bias; the bias name gives the
 * layer. (A Gemm with its bias input works too, in either orientation.) The graph also gives
 * the LayerNorm epsilon (the constant added to the variance, or LayerNormalization's
 * attribute), the head count (the constant the attention scores are divided by is
 * √head_dim) and checks that the activation is the exact, erf GELU.
 */
final class BertOnnx {
    private static final Pattern LINEAR = Pattern.compile(
            "(?:.*\\.)?encoder\\.layer\\.(\\d+)\\.(attention\\.self\\.query|attention\\.self\\.key|attention\\.self\\.value"
                    + "|attention\\.output\\.dense|intermediate\\.dense|output\\.dense)");
    private static final Map<String, String> SHORT = Map.of(
            "attention.self.query", "attn.q", "attention.self.key", "attn.k", "attention.self.value", "attn.v",
            "attention.output.dense", "attn.out", "intermediate.dense", "ffn.in", "output.dense", "ffn.out");

    private final OnnxFile file;
    private final Map<String, Node> producers = new HashMap<>();
    private final Map<String, List<Node>> consumers = new HashMap<>();

    private BertOnnx(OnnxFile file) {
        this.file = file;
        for (Node n : file.nodes()) {
            n.outputs().forEach(o -> producers.put(o, n));
            n.inputs().forEach(i -> consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n));
        }
    }

    static MiniLm load(Path path) {
        ModelFiles files = ModelFiles.locate(path);
        OnnxFile onnx = OnnxFile.read(files.onnx());
        WordPiece tokenizer = WordPiece.parse(files.tokenizerJson(), files.tokenizerSource());
        return new BertOnnx(onnx).model(tokenizer);
    }

    MiniLm model(WordPiece tokenizer) {
        Tensor word = named("embeddings.word_embeddings.weight", 2);
        Tensor position = named("embeddings.position_embeddings.weight", 2);
        Tensor type = named("embeddings.token_type_embeddings.weight", 2);
        int vocab = (int) word.dims()[0];
        int hidden = (int) word.dims()[1];
        Map<String, LinearLayer> linears = linears();
        int layers = linears.size() / 6;
        for (int l = 0; l < layers; l++) {
            for (String name : MiniLm.linearNames(l)) {
                if (!linears.containsKey(name)) {
                    throw fail("found " + linears.size() + " linear layers but not " + name + " (" + layers + " layers?)");
                }
            }
        }
        if (layers == 0 || linears.size() != layers * 6) {
            throw fail("found " + linears.size() + " BERT linear layers, not 6 per layer: " + linears.keySet());
        }
        int intermediate = linears.get("layer.0.ffn.in").rows();
        List<String> normPrefixes = new ArrayList<>();
        normPrefixes.add("embeddings.LayerNorm");
        Map<String, MiniLm.Norm> norms = new LinkedHashMap<>();
        for (int l = 0; l < layers; l++) {
            normPrefixes.add("encoder.layer." + l + ".attention.output.LayerNorm");
            normPrefixes.add("encoder.layer." + l + ".output.LayerNorm");
        }
        float eps = Float.NaN;
        for (String p : normPrefixes) {
            Tensor g = named(p + ".weight", 1);
            norms.put(p, new MiniLm.Norm(vector(g, hidden), vector(named(p + ".bias", 1), hidden)));
            float e = epsilon(g);
            if (!Float.isNaN(eps) && e != eps) {
                throw fail("LayerNorms use different epsilons (" + eps + " and " + e + " at " + p + "); unsupported");
            }
            eps = e;
        }
        int heads = hidden / headDim(hidden);
        checkGelu(layers);
        MiniLmConfig config = new MiniLmConfig(vocab, hidden, layers, heads, intermediate, (int) position.dims()[0],
                (int) type.dims()[0], eps);
        checkShape(position, config.maxPositions(), hidden);
        checkShape(type, config.typeVocabSize(), hidden);
        for (LinearLayer l : linears.values()) {
            boolean in = l.name().endsWith("ffn.in");
            boolean out = l.name().endsWith("ffn.out");
            if (l.rows() != (in ? intermediate : hidden) || l.cols() != (out ? intermediate : hidden)) {
                throw fail(l.name() + " is " + l.rows() + "x" + l.cols() + ", which does not fit hidden " + hidden
                        + " and intermediate " + intermediate);
            }
        }
        if (tokenizer.vocabSize() > vocab) {
            throw fail("the tokenizer has " + tokenizer.vocabSize() + " tokens, the embedding table " + vocab);
        }
        MiniLm.Norm[] attn = new MiniLm.Norm[layers];
        MiniLm.Norm[] ffn = new MiniLm.Norm[layers];
        for (int l = 0; l < layers; l++) {
            attn[l] = norms.get("encoder.layer." + l + ".attention.output.LayerNorm");
            ffn[l] = norms.get("encoder.layer." + l + ".output.LayerNorm");
        }
        MiniLm.Weights w = new MiniLm.Weights(file.floats(word), file.floats(position), file.floats(type),
                norms.get("embeddings.LayerNorm"), attn, ffn);
        Map<String, LinearLayer> ordered = new LinkedHashMap<>();
        for (int l = 0; l < layers; l++) {
            MiniLm.linearNames(l).forEach(n -> ordered.put(n, linears.get(n)));
        }
        return new MiniLm(config, tokenizer, w, ordered);
    }

    /** Every MatMul/Gemm that takes an initializer weight and is followed by a named BERT bias. */
    private Map<String, LinearLayer> linears() {
        Map<String, LinearLayer> out = new HashMap<>();
        for (Node n : file.nodes()) {
            boolean gemm = n.opType().equals("Gemm");
            if (!(n.opType().equals("MatMul") || gemm) || n.inputs().size() < 2 || !isInit(n.inputs().get(1))) {
                continue;
            }
            Tensor w = file.initializer(n.inputs().get(1));
            if (w.dims().length != 2) {
                continue;
            }
            Tensor bias;
            boolean transposed; // stored [in, out]
            if (gemm) {
                if (attr(n, "transA", 0) != 0 || n.inputs().size() < 3 || !isInit(n.inputs().get(2))) {
                    throw fail("Gemm " + n.name() + " has transA or no bias initializer; unsupported");
                }
                bias = file.initializer(n.inputs().get(2));
                transposed = attr(n, "transB", 0) == 0;
            } else {
                bias = biasAfter(n);
                transposed = true;
            }
            Matcher m = bias == null ? null : LINEAR.matcher(stripSuffix(bias.name(), ".bias"));
            if (m == null || !m.matches()) {
                continue; // not an encoder linear (e.g. a pooler head)
            }
            String name = "layer." + m.group(1) + "." + SHORT.get(m.group(2));
            int rows = (int) w.dims()[transposed ? 1 : 0];
            int cols = (int) w.dims()[transposed ? 0 : 1];
            float[] stored = file.floats(w);
            float[] weight = transposed ? transpose(stored, cols, rows) : stored;
            if (out.put(name, new LinearLayer(name, rows, cols, weight, vector(bias, rows))) != null) {
                throw fail("two weights map to " + name + " (bias " + bias.name() + ")");
            }
        }
        return out;
    }

    /** The bias initializer of the one Add that consumes the MatMul's output, or null. */
    private Tensor biasAfter(Node matmul) {
        List<Node> next = consumers.getOrDefault(matmul.outputs().getFirst(), List.of());
        if (next.size() != 1 || !next.getFirst().opType().equals("Add")) {
            return null;
        }
        for (String in : next.getFirst().inputs()) {
            if (isInit(in) && in.endsWith(".bias")) {
                return file.initializer(in);
            }
        }
        return null;
    }

    /** ε of the LayerNorm whose gain is {@code gain}: γ·(x−μ)/√(var+ε) or LayerNormalization. */
    private float epsilon(Tensor gain) {
        for (Node n : consumers.getOrDefault(gain.name(), List.of())) {
            if (n.opType().equals("LayerNormalization")) {
                OnnxFile.Attribute a = n.attributes().get("epsilon");
                return a == null ? 1e-5f : a.f(); // the operator's default
            }
            if (n.opType().equals("Mul")) {
                Node div = producerOf(n, "Div");
                Node sqrt = div == null || div.inputs().size() < 2 ? null : producers.get(div.inputs().get(1));
                Node add = sqrt == null || !sqrt.opType().equals("Sqrt") ? null : producers.get(sqrt.inputs().getFirst());
                if (add != null && add.opType().equals("Add")) {
                    for (String in : add.inputs()) {
                        float[] c = constant(in);
                        if (c != null && c.length == 1) {
                            return c[0];
                        }
                    }
                }
            }
        }
        throw fail("cannot find the epsilon of the LayerNorm with gain " + gain.name());
    }

    /** head_dim from the scores' scale: Softmax(Add(Div(QKᵀ, √d), mask)) or Mul by 1/√d. */
    private int headDim(int hidden) {
        for (Node softmax : file.nodes()) {
            if (!softmax.opType().equals("Softmax")) {
                continue;
            }
            Node n = producers.get(softmax.inputs().getFirst());
            if (n != null && n.opType().equals("Add")) {
                Node scaled = producerOf(n, "Div");
                n = scaled != null ? scaled : producerOf(n, "Mul");
            }
            if (n == null || !(n.opType().equals("Div") || n.opType().equals("Mul"))) {
                continue;
            }
            for (String in : n.inputs()) {
                float[] c = constant(in);
                if (c != null && c.length == 1 && c[0] > 0) {
                    double d = n.opType().equals("Div") ? c[0] * (double) c[0] : 1 / (c[0] * (double) c[0]);
                    long rounded = Math.round(d);
                    if (Math.abs(d - rounded) < 1e-3 * d && rounded > 0 && hidden % rounded == 0) {
                        return (int) rounded;
                    }
                    throw fail("attention scale " + c[0] + " is not 1/sqrt of a head size dividing " + hidden);
                }
            }
        }
        throw fail("cannot find the attention score scale (Softmax after Div by sqrt(head_dim))");
    }

    private void checkGelu(int layers) {
        int exact = 0;
        for (Node n : file.nodes()) {
            OnnxFile.Attribute approx = n.attributes().get("approximate");
            if (n.opType().equals("Erf") || (n.opType().equals("Gelu") && (approx == null || "none".equals(approx.s())))) {
                exact++;
            }
        }
        if (exact != layers) {
            throw fail("expected " + layers + " exact (erf) GELUs, one per layer, found " + exact
                    + "; other activations are not supported");
        }
    }

    private Node producerOf(Node consumer, String op) {
        for (String in : consumer.inputs()) {
            Node p = producers.get(in);
            if (p != null && p.opType().equals(op)) {
                return p;
            }
        }
        return null;
    }

    /** The float values of a Constant node's output or a float initializer, or null. */
    private float[] constant(String value) {
        Tensor t = null;
        if (isInit(value)) {
            t = file.initializer(value);
        } else if (producers.get(value) != null && producers.get(value).opType().equals("Constant")) {
            OnnxFile.Attribute a = producers.get(value).attributes().get("value");
            t = a == null ? null : a.t();
        }
        return t == null || t.dataType() != OnnxFile.FLOAT ? null : file.floats(t);
    }

    /** The initializer called {@code suffix}, or ending in "." + suffix (a "bert." prefix, say). */
    private Tensor named(String suffix, int rank) {
        Tensor found = null;
        for (Tensor t : file.initializers().values()) {
            if (t.name().equals(suffix) || t.name().endsWith("." + suffix)) {
                if (found != null) {
                    throw fail("both " + found.name() + " and " + t.name() + " look like " + suffix);
                }
                found = t;
            }
        }
        if (found == null) {
            throw fail("no initializer " + suffix + ": not a BERT encoder export");
        }
        if (found.dims().length != rank) {
            throw fail(found.name() + " has shape " + Arrays.toString(found.dims()) + ", expected rank " + rank);
        }
        return found;
    }

    private float[] vector(Tensor t, int n) {
        if (t.dims().length != 1 || t.dims()[0] != n) {
            throw fail(t.name() + " has shape " + Arrays.toString(t.dims()) + ", expected [" + n + "]");
        }
        return file.floats(t);
    }

    private void checkShape(Tensor t, int rows, int cols) {
        if (t.dims()[0] != rows || t.dims()[1] != cols) {
            throw fail(t.name() + " has shape " + Arrays.toString(t.dims()) + ", expected [" + rows + ", " + cols + "]");
        }
    }

    private boolean isInit(String name) {
        return file.initializers().containsKey(name);
    }

    private static long attr(Node n, String name, long fallback) {
        OnnxFile.Attribute a = n.attributes().get(name);
        return a == null ? fallback : a.i();
    }

    private static String stripSuffix(String s, String suffix) {
        return s.endsWith(suffix) ? s.substring(0, s.length() - suffix.length()) : s;
    }

    /** [r × c] row-major → [c × r]. */
    static float[] transpose(float[] a, int r, int c) {
        float[] t = new float[a.length];
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < c; j++) {
                t[j * r + i] = a[i * c + j];
            }
        }
        return t;
    }

    private InputException fail(String what) {
        return InputException.at(file.source(), what);
    }
}
