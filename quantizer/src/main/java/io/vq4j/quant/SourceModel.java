package io.vq4j.quant;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import io.vq4j.core.Parallel;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.io.gguf.GgufFile;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.GgufCheckpoint;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.Linear;
import io.vq4j.model.Llama2cCheckpoint;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaConfig;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The model being quantized, read one decoder block at a time: a Hugging Face directory stays
 * memory-mapped (a block's weights are copied out only while that block is quantized), a
 * llama2.c checkpoint is small enough to be held whole, a GGUF file is decoded to fp32 whole.
 * Tensor names are Hugging Face's.
 */
public abstract sealed class SourceModel implements AutoCloseable {
    static final String[] LINEARS = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

    public abstract LlamaConfig config();

    /** Rows of the token embedding, one per id (ids × dim). */
    public abstract float[] embed(int[] ids, int from, int length);

    /** Decoder block i, loaded now. */
    public abstract LayerWeights block(int i);

    /** The dtype the unquantized tensors are written in. */
    public abstract DType dtype();

    /** Adds block i's norms (and biases) in their source dtype. */
    public abstract void addBlockExtras(int i, SafeTensorsWriter w);

    /** Adds the tensors outside the blocks: embedding, final norm, lm_head (unless tied). */
    public abstract void addRest(SafeTensorsWriter w);

    /**
     * Fails with a one-line error naming the first non-finite weight of a linear layer,
     * before anything is written.
     */
    public abstract void checkFinite();

    /** The first non-finite element of w, if any, as the one-line error: chunks scanned in parallel, the least index reported. */
    static void checkFinite(float[] w, String name, Path where) {
        int chunk = 1 << 16;
        AtomicInteger first = new AtomicInteger(Integer.MAX_VALUE);
        Parallel.forEach(0, (w.length + chunk - 1) / chunk, c -> {
            for (int i = c * chunk, e = Math.min(w.length, i + chunk); i < e; i++) {
                if ((Float.floatToRawIntBits(w[i]) & 0x7f800000) == 0x7f800000) { // Inf or NaN
                    first.accumulateAndGet(i, Math::min);
                    return;
                }
            }
        });
        int i = first.get();
        if (i != Integer.MAX_VALUE) {
            throw InputException.at(where, "tensor '" + name + "' holds " + w[i] + " at element " + i
                    + "; weights must be finite");
        }
    }

    /** The source config.json (HF) or the one HF would write for it. */
    public abstract ObjectNode configJson();

    @Override
    public void close() {
    }

    public static String prefix(int block) {
        return "model.layers." + block + ".";
    }

    static boolean hasBias(LlamaConfig c, String linear) {
        if (!c.attentionBias()) {
            return false;
        }
        boolean qkv = linear.endsWith("q_proj") || linear.endsWith("k_proj") || linear.endsWith("v_proj");
        return qkv || linear.endsWith("o_proj") && !c.architecture().equals("Qwen2ForCausalLM");
    }

    public static SourceModel open(Path model) {
        if (!Files.exists(model)) {
            throw InputException.at(model, "no such file or directory");
        }
        if (Files.isDirectory(model)) {
            return new Hf(model);
        }
        return new InMemory(GgufFile.isGguf(model) ? GgufCheckpoint.read(model) : Llama2cCheckpoint.read(model));
    }

    /** A checkpoint already in memory (llama2.c files, tests). */
    public static final class InMemory extends SourceModel {
        private final LlamaCheckpoint ckpt;

        public InMemory(LlamaCheckpoint ckpt) {
            this.ckpt = ckpt;
        }

        @Override
        public LlamaConfig config() {
            return ckpt.config();
        }

        @Override
        public float[] embed(int[] ids, int from, int length) {
            int d = config().dim();
            float[] x = new float[length * d];
            for (int t = 0; t < length; t++) {
                System.arraycopy(ckpt.weights().tokenEmbedding(), ids[from + t] * d, x, t * d, d);
            }
            return x;
        }

        @Override
        public LayerWeights block(int i) {
            return ckpt.weights().layers().get(i);
        }

        @Override
        public DType dtype() {
            return DType.F32;
        }

        @Override
        public void checkFinite() {
            for (int b = 0; b < config().nLayers(); b++) {
                LayerWeights lw = block(b);
                Linear[] ls = {lw.wq(), lw.wk(), lw.wv(), lw.wo(), lw.w1(), lw.w3(), lw.w2()};
                for (int j = 0; j < ls.length; j++) {
                    checkFinite(((DenseLinear) ls[j]).weight(), prefix(b) + LINEARS[j] + ".weight",
                            Path.of(ckpt.source()));
                }
            }
        }

        @Override
        public void addBlockExtras(int i, SafeTensorsWriter w) {
            LayerWeights lw = block(i);
            String p = prefix(i);
            int d = config().dim();
            w.addFloats(p + "input_layernorm.weight", DType.F32, new long[]{d}, lw.attnNorm());
            w.addFloats(p + "post_attention_layernorm.weight", DType.F32, new long[]{d}, lw.ffnNorm());
            Linear[] ls = {lw.wq(), lw.wk(), lw.wv(), lw.wo(), lw.w1(), lw.w3(), lw.w2()};
            for (int j = 0; j < LINEARS.length; j++) {
                if (ls[j] instanceof DenseLinear dl && dl.bias() != null) {
                    w.addFloats(p + LINEARS[j] + ".bias", DType.F32, new long[]{dl.bias().length}, dl.bias());
                }
            }
        }

        @Override
        public void addRest(SafeTensorsWriter w) {
            LlamaConfig c = config();
            w.addFloats("model.embed_tokens.weight", DType.F32, new long[]{c.vocabSize(), c.dim()},
                    ckpt.weights().tokenEmbedding());
            w.addFloats("model.norm.weight", DType.F32, new long[]{c.dim()}, ckpt.weights().finalNorm());
            if (!c.tieWordEmbeddings()) {
                w.addFloats("lm_head.weight", DType.F32, new long[]{c.vocabSize(), c.dim()},
                        ((DenseLinear) ckpt.weights().lmHead()).weight());
            }
        }

        @Override
        public ObjectNode configJson() {
            return HfCheckpoints.configJson(config(), DType.F32);
        }
    }

    /** A Hugging Face directory, memory-mapped. */
    public static final class Hf extends SourceModel {
        private final Path dir;
        private final LlamaConfig config;
        private final SafeTensorsDirectory st;

        Hf(Path dir) {
            this.dir = dir;
            this.config = HfCheckpoints.readConfig(dir);
            this.st = SafeTensorsDirectory.open(dir);
        }

        private SafeTensorsFile.TensorInfo info(String name, long... shape) {
            if (!st.contains(name)) {
                throw InputException.at(dir, "tensor '" + name + "' is missing");
            }
            SafeTensorsFile.TensorInfo t = st.info(name);
            if (!Arrays.equals(t.shape(), shape)) {
                throw InputException.at(st.fileOf(name).path(), "tensor '" + name + "' has shape "
                        + Arrays.toString(t.shape()) + " but config.json implies " + Arrays.toString(shape));
            }
            if (!t.dtype().isFloating()) {
                throw InputException.at(st.fileOf(name).path(), "tensor '" + name + "' is " + t.dtype()
                        + ", not a float dtype");
            }
            return t;
        }

        private float[] floats(String name, long... shape) {
            info(name, shape);
            float[] v = st.floats(name);
            for (int i = 0; i < v.length; i++) {
                if (!Float.isFinite(v[i])) {
                    throw InputException.at(st.fileOf(name).path(), "tensor '" + name + "' holds " + v[i]
                            + " at element " + i + "; weights must be finite");
                }
            }
            return v;
        }

        @Override
        public LlamaConfig config() {
            return config;
        }

        @Override
        public float[] embed(int[] ids, int from, int length) {
            int d = config.dim();
            String name = "model.embed_tokens.weight";
            SafeTensorsFile.TensorInfo t = info(name, config.vocabSize(), d);
            MemorySegment s = st.data(name);
            float[] x = new float[length * d];
            for (int r = 0; r < length; r++) {
                long base = (long) ids[from + r] * d;
                for (int j = 0; j < d; j++) {
                    long e = base + j;
                    x[r * d + j] = switch (t.dtype()) {
                        case F32 -> s.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, e);
                        case F16 -> Float.float16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, e));
                        case BF16 -> DType.bf16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, e));
                        case F64 -> (float) s.getAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED, e);
                        default -> throw new AssertionError(t.dtype());
                    };
                }
            }
            return x;
        }

        private DenseLinear linear(int block, String linear, int out, int in) {
            String n = prefix(block) + linear;
            return new DenseLinear(floats(n + ".weight", out, in), hasBias(config, linear) ? floats(n + ".bias", out)
                    : null, out, in);
        }

        @Override
        public LayerWeights block(int i) {
            LlamaConfig c = config;
            int d = c.dim();
            String p = prefix(i);
            return new LayerWeights(floats(p + "input_layernorm.weight", d),
                    linear(i, LINEARS[0], c.qDim(), d), linear(i, LINEARS[1], c.kvDim(), d),
                    linear(i, LINEARS[2], c.kvDim(), d), linear(i, LINEARS[3], d, c.qDim()),
                    floats(p + "post_attention_layernorm.weight", d),
                    linear(i, LINEARS[4], c.hiddenDim(), d), linear(i, LINEARS[6], d, c.hiddenDim()),
                    linear(i, LINEARS[5], c.hiddenDim(), d));
        }

        @Override
        public DType dtype() {
            return st.info("model.embed_tokens.weight").dtype();
        }

        @Override
        public void checkFinite() {
            LlamaConfig c = config;
            long[][] shapes = {{c.qDim(), c.dim()}, {c.kvDim(), c.dim()}, {c.kvDim(), c.dim()}, {c.dim(), c.qDim()},
                    {c.hiddenDim(), c.dim()}, {c.hiddenDim(), c.dim()}, {c.dim(), c.hiddenDim()}};
            for (int b = 0; b < c.nLayers(); b++) {
                for (int j = 0; j < LINEARS.length; j++) {
                    String name = prefix(b) + LINEARS[j] + ".weight";
                    SafeTensorsFile.TensorInfo t = info(name, shapes[j]);
                    MemorySegment s = st.data(name);
                    for (long e = 0; e < t.elements(); e++) {
                        float v = switch (t.dtype()) {
                            case F32 -> s.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, e);
                            case F16 -> Float.float16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, e));
                            case BF16 -> DType.bf16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, e));
                            case F64 -> (float) s.getAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED, e);
                            default -> throw new AssertionError(t.dtype());
                        };
                        if (!Float.isFinite(v)) {
                            throw InputException.at(st.fileOf(name).path(), "tensor '" + name + "' holds " + v
                                    + " at element " + e + "; weights must be finite");
                        }
                    }
                }
            }
        }

        private void copy(String name, SafeTensorsWriter w) {
            SafeTensorsFile.TensorInfo t = st.info(name);
            w.addSegment(name, t.dtype(), t.shape(), st.data(name));
        }

        @Override
        public void addBlockExtras(int i, SafeTensorsWriter w) {
            String p = prefix(i);
            copy(p + "input_layernorm.weight", w);
            copy(p + "post_attention_layernorm.weight", w);
            for (String l : LINEARS) {
                if (hasBias(config, l)) {
                    copy(p + l + ".bias", w);
                }
            }
        }

        @Override
        public void addRest(SafeTensorsWriter w) {
            copy("model.embed_tokens.weight", w);
            copy("model.norm.weight", w);
            if (st.contains("lm_head.weight")) {
                copy("lm_head.weight", w);
            }
        }

        @Override
        public ObjectNode configJson() {
            try {
                return (ObjectNode) new ObjectMapper().readTree(dir.resolve("config.json").toFile());
            } catch (IOException e) {
                throw InputException.at(dir.resolve("config.json"), "cannot read: " + e.getMessage());
            }
        }

        public Path dir() {
            return dir;
        }

        @Override
        public void close() {
            st.close();
        }
    }
}
