package io.vq4j.model;

import io.vq4j.core.InputException;
import io.vq4j.io.gguf.GgufFile;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A Llama-architecture GGUF file (llama.cpp's format) as a vq4j model: the configuration from
 * the {@code llama.*} metadata, every tensor decoded to fp32 (f32, f16, q4_0, q4_1, q8_0), the
 * q/k rows turned from llama.cpp's interleaved RoPE order to vq4j's rotate_half
 * ({@link RopeLayout}), and the output head tied to token_embd when there is no output.weight.
 * What vq4j cannot run the same way (RoPE scaling, partial rotary dimensions, biases, tensors it
 * would ignore) is refused with one line rather than run differently.
 */
public final class GgufCheckpoint {
    /** The general.architecture this loader reads. */
    public static final String ARCHITECTURE = "llama";

    private GgufCheckpoint() {
    }

    public static LlamaConfig readConfig(Path file) {
        try (GgufFile f = GgufFile.open(file)) {
            return readConfig(f);
        }
    }

    public static LlamaConfig readConfig(GgufFile f) {
        String arch = f.has("general.architecture") ? f.string("general.architecture") : "(none)";
        if (!arch.equals(ARCHITECTURE)) {
            throw InputException.at(f.path(), "general.architecture is \"" + arch + "\"; vq4j reads only \""
                    + ARCHITECTURE + "\" GGUF models");
        }
        String p = ARCHITECTURE + ".";
        int dim = positive(f, p + "embedding_length");
        int hidden = positive(f, p + "feed_forward_length");
        int layers = positive(f, p + "block_count");
        int heads = positive(f, p + "attention.head_count");
        int kvHeads = f.has(p + "attention.head_count_kv") ? positive(f, p + "attention.head_count_kv") : heads;
        int ctx = positive(f, p + "context_length");
        if (heads % kvHeads != 0) {
            throw InputException.at(f.path(), p + "attention.head_count_kv=" + kvHeads + " does not divide "
                    + p + "attention.head_count=" + heads);
        }
        int headDim;
        if (f.has(p + "attention.key_length")) {
            headDim = positive(f, p + "attention.key_length");
        } else if (dim % heads == 0) {
            headDim = dim / heads;
        } else {
            throw InputException.at(f.path(), p + "embedding_length=" + dim + " is not divisible by "
                    + p + "attention.head_count=" + heads);
        }
        if (f.has(p + "attention.value_length") && positive(f, p + "attention.value_length") != headDim) {
            throw InputException.at(f.path(), p + "attention.value_length differs from the key length " + headDim
                    + "; vq4j needs them equal");
        }
        if (headDim % 2 != 0) {
            throw InputException.at(f.path(), "the head size " + headDim + " is odd; RoPE needs an even head size");
        }
        if (f.has(p + "rope.dimension_count") && positive(f, p + "rope.dimension_count") != headDim) {
            throw InputException.at(f.path(), p + "rope.dimension_count=" + positive(f, p + "rope.dimension_count")
                    + " rotates part of each head of " + headDim + "; vq4j rotates whole heads only");
        }
        if (f.has(p + "rope.scaling.type") && !f.string(p + "rope.scaling.type").equals("none")) {
            throw InputException.at(f.path(), p + "rope.scaling.type \"" + f.string(p + "rope.scaling.type")
                    + "\" is not read by vq4j yet (only unscaled RoPE)");
        }
        GgufFile.Tensor embd = f.tensor("token_embd.weight");
        if (embd == null || embd.dims().length != 2) {
            throw InputException.at(f.path(), "has no 2-D tensor 'token_embd.weight'");
        }
        if (embd.dims()[1] > Integer.MAX_VALUE) {
            throw InputException.at(f.path(), "token_embd.weight has " + embd.dims()[1] + " rows");
        }
        int vocab = (int) embd.dims()[1];
        if (f.has(p + "vocab_size") && f.integer(p + "vocab_size") != vocab) {
            throw InputException.at(f.path(), p + "vocab_size=" + f.integer(p + "vocab_size") + " but token_embd.weight"
                    + " has " + vocab + " rows");
        }
        double eps = decimal(f, p + "attention.layer_norm_rms_epsilon", Double.NaN);
        double theta = decimal(f, p + "rope.freq_base", 10000.0);
        if (!(eps > 0) || !(theta > 0) || Double.isInfinite(theta)) {
            throw InputException.at(f.path(), p + "attention.layer_norm_rms_epsilon and " + p
                    + "rope.freq_base must be positive numbers");
        }
        boolean tied = f.tensor("output.weight") == null;
        return new LlamaConfig("LlamaForCausalLM", dim, hidden, layers, heads, kvHeads, headDim, vocab, ctx, theta,
                null, eps, tied, false, tokenId(f, "tokenizer.ggml.bos_token_id", 1),
                tokenId(f, "tokenizer.ggml.eos_token_id", 2));
    }

    public static LlamaCheckpoint read(Path file) {
        try (GgufFile f = GgufFile.open(file)) {
            LlamaConfig c = readConfig(f);
            Loader l = new Loader(f);
            int d = c.dim();
            float[] embedding = l.floats("token_embd.weight", d, c.vocabSize());
            List<LayerWeights> layers = new ArrayList<>(c.nLayers());
            for (int i = 0; i < c.nLayers(); i++) {
                String b = "blk." + i + ".";
                float[] wq = RopeLayout.toRotateHalf(l.floats(b + "attn_q.weight", d, c.qDim()), c.nHeads(),
                        c.headDim(), d);
                float[] wk = RopeLayout.toRotateHalf(l.floats(b + "attn_k.weight", d, c.kvDim()), c.nKvHeads(),
                        c.headDim(), d);
                layers.add(new LayerWeights(l.floats(b + "attn_norm.weight", d),
                        new DenseLinear(wq, null, c.qDim(), d),
                        new DenseLinear(wk, null, c.kvDim(), d),
                        l.linear(b + "attn_v.weight", c.kvDim(), d),
                        l.linear(b + "attn_output.weight", d, c.qDim()),
                        l.floats(b + "ffn_norm.weight", d),
                        l.linear(b + "ffn_gate.weight", c.hiddenDim(), d),
                        l.linear(b + "ffn_down.weight", d, c.hiddenDim()),
                        l.linear(b + "ffn_up.weight", c.hiddenDim(), d)));
            }
            float[] norm = l.floats("output_norm.weight", d);
            Linear head = c.tieWordEmbeddings() ? new DenseLinear(embedding, null, c.vocabSize(), d)
                    : l.linear("output.weight", c.vocabSize(), d);
            l.checkAllUsed();
            LlamaWeights w = new LlamaWeights(embedding, List.copyOf(layers), norm, head);
            return new LlamaCheckpoint(c, w, file.toString());
        }
    }

    /** Reads tensors by name and shape, remembering which were read. */
    private static final class Loader {
        private final GgufFile f;
        private final Set<String> used = new HashSet<>();

        Loader(GgufFile f) {
            this.f = f;
        }

        /** @param dims the shape in ggml order (values per row first) */
        float[] floats(String name, long... dims) {
            GgufFile.Tensor t = f.tensor(name);
            if (t == null) {
                throw InputException.at(f.path(), "tensor '" + name + "' is missing");
            }
            if (!Arrays.equals(t.dims(), dims)) {
                throw InputException.at(f.path(), "tensor '" + name + "' has shape " + Arrays.toString(t.dims())
                        + " but the metadata implies " + Arrays.toString(dims) + " (ggml order)");
            }
            used.add(name);
            return f.floats(t);
        }

        DenseLinear linear(String name, int out, int in) {
            return new DenseLinear(floats(name, in, out), null, out, in);
        }

        void checkAllUsed() {
            for (String name : f.tensors().keySet()) {
                if (!used.contains(name)) {
                    throw InputException.at(f.path(), "tensor '" + name + "' is not part of the Llama model vq4j runs"
                            + " (biases, rope_freqs and other extras are not read yet)");
                }
            }
        }
    }

    private static int positive(GgufFile f, String key) {
        long v = f.integer(key);
        if (v <= 0 || v > Integer.MAX_VALUE) {
            throw InputException.at(f.path(), key + " must be a positive 32-bit integer, got " + v);
        }
        return (int) v;
    }

    private static int tokenId(GgufFile f, String key, int fallback) {
        if (!f.has(key)) {
            return fallback;
        }
        long v = f.integer(key);
        if (v < 0 || v > Integer.MAX_VALUE) {
            throw InputException.at(f.path(), key + " is " + v + ", not a token id");
        }
        return (int) v;
    }

    /**
     * A FLOAT32 value as the decimal it was written from (1e-5f reads as 1.0E-5, not
     * 9.99999974737875E-6), so a model's configuration survives a round trip through GGUF.
     */
    private static double decimal(GgufFile f, String key, double fallback) {
        if (!f.has(key)) {
            if (Double.isNaN(fallback)) {
                throw InputException.at(f.path(), "metadata key '" + key + "' is missing");
            }
            return fallback;
        }
        GgufFile.Value v = f.metadata().get(key);
        return v.value() instanceof Float x ? Double.parseDouble(Float.toString(x)) : f.real(key);
    }
}
