package io.vq4j.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import io.vq4j.core.AtomicFiles;
import io.vq4j.io.DType;
import io.vq4j.io.Finite;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedReference;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** Hugging Face Llama-family checkpoint directories: config.json + safetensors. */
public final class HfCheckpoints {
    private static final Set<String> ARCHITECTURES = Set.of("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM");
    private static final ObjectMapper JSON = new ObjectMapper();
    /** config.json as read: a key given twice would silently shadow the first. */
    private static final ObjectMapper STRICT_JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    /** The packed formats a directory may hold layers in (the quantizer's, when it is on the class path). */
    private static final List<PackedLayerReader> READERS = PackedLayerReader.installed();
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d{1,18})\\..*");

    private HfCheckpoints() {
    }

    public static LlamaConfig readConfig(Path dir) {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw InputException.at(dir, "has no config.json");
        }
        JsonNode c;
        try {
            c = STRICT_JSON.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            // the parser's own words, without Jackson's "[Source: ...]" location text
            String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr();
            throw InputException.at(file, "is not valid JSON" + where + ": "
                    + e.getOriginalMessage().lines().findFirst().orElse(""));
        } catch (IOException e) {
            throw InputException.at(file, "cannot read: " + e.getMessage());
        }
        if (c == null || !c.isObject()) {
            throw InputException.at(file, "is not a JSON object");
        }
        JsonNode archs = c.get("architectures");
        String arch = archs != null && archs.isArray() && !archs.isEmpty() ? archs.get(0).asText() : null;
        if (arch == null) {
            throw InputException.at(file, "has no architectures field");
        }
        if (!ARCHITECTURES.contains(arch)) {
            throw InputException.at(file, "architecture " + arch + " is not supported (supported: " + ARCHITECTURES + ")");
        }
        int dim = requiredInt(file, c, "hidden_size");
        int hidden = requiredInt(file, c, "intermediate_size");
        int layers = requiredInt(file, c, "num_hidden_layers");
        int heads = requiredInt(file, c, "num_attention_heads");
        int kvHeads = c.has("num_key_value_heads") && !c.get("num_key_value_heads").isNull()
                ? requiredInt(file, c, "num_key_value_heads") : heads;
        int vocab = requiredInt(file, c, "vocab_size");
        int maxPos = requiredInt(file, c, "max_position_embeddings");
        if (heads % kvHeads != 0) {
            throw InputException.at(file, "num_key_value_heads=" + kvHeads + " does not divide num_attention_heads=" + heads);
        }
        int headDim;
        if (c.hasNonNull("head_dim")) {
            headDim = requiredInt(file, c, "head_dim");
        } else if (dim % heads == 0) {
            headDim = dim / heads;
        } else {
            throw InputException.at(file, "hidden_size=" + dim + " is not divisible by num_attention_heads=" + heads
                    + " and there is no head_dim");
        }
        if (headDim % 2 != 0) {
            throw InputException.at(file, "head_dim=" + headDim + " is odd; RoPE needs an even head size");
        }
        // every weight matrix is one Java array: the products must not overflow (they once gave
        // messages like "config.json implies [0, 64]")
        long qDim = (long) heads * headDim;
        long[][] shapes = {{qDim, dim}, {(long) kvHeads * headDim, dim}, {hidden, dim}, {vocab, dim}};
        for (long[] sh : shapes) {
            if (sh[0] > Integer.MAX_VALUE || sh[0] * sh[1] > Llama2cCheckpoint.MAX_TENSOR_FLOATS) {
                throw InputException.at(file, "implies a " + sh[0] + "x" + sh[1] + " weight, more than the "
                        + Llama2cCheckpoint.MAX_TENSOR_FLOATS + " values one tensor may hold here");
            }
        }
        LlamaConfig.RopeScaling scaling = null;
        JsonNode rs = c.get("rope_scaling");
        if (rs != null && !rs.isNull()) {
            if (!rs.isObject()) {
                throw InputException.at(file, "rope_scaling must be an object or null, got " + rs);
            }
            // older configs name it "type"; "default" is plain RoPE
            String type = rs.hasNonNull("rope_type") ? rs.get("rope_type").asText() : rs.path("type").asText("");
            if (type.equals("llama3")) {
                scaling = new LlamaConfig.RopeScaling("llama3", requiredDouble(file, rs, "factor"),
                        requiredDouble(file, rs, "low_freq_factor"), requiredDouble(file, rs, "high_freq_factor"),
                        requiredInt(file, rs, "original_max_position_embeddings"));
                if (!(scaling.highFreqFactor() > scaling.lowFreqFactor()) || !(scaling.factor() > 0)) {
                    throw InputException.at(file, "rope_scaling needs factor > 0 and high_freq_factor > low_freq_factor");
                }
            } else if (!type.equals("default")) {
                throw InputException.at(file, "rope_scaling type '" + type + "' is not supported (only llama3)");
            }
        }
        boolean bias = arch.equals("Qwen2ForCausalLM") || optionalBoolean(file, c, "attention_bias", false);
        return new LlamaConfig(arch, dim, hidden, layers, heads, kvHeads, headDim, vocab, maxPos,
                optionalPositive(file, c, "rope_theta", 10000.0), scaling, optionalPositive(file, c, "rms_norm_eps", 1e-6),
                optionalBoolean(file, c, "tie_word_embeddings", false), bias,
                tokenId(file, c, "bos_token_id", 1), tokenId(file, c, "eos_token_id", 2));
    }

    /** A token id, or a list of them of which the first counts (Llama 3 lists several EOS ids). */
    private static int tokenId(Path file, JsonNode c, String field, int fallback) {
        JsonNode n = c.get(field);
        if (n == null || n.isNull() || (n.isArray() && n.isEmpty())) {
            return fallback;
        }
        JsonNode id = n.isArray() ? n.get(0) : n;
        if (!id.isIntegralNumber() || id.asLong() < 0 || id.asLong() > Integer.MAX_VALUE) {
            throw InputException.at(file, field + " must be a token id or a list of them, got " + n);
        }
        return id.asInt();
    }

    private static boolean optionalBoolean(Path file, JsonNode c, String field, boolean fallback) {
        JsonNode n = c.get(field);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isBoolean()) {
            throw InputException.at(file, field + " must be true or false, got " + n);
        }
        return n.asBoolean();
    }

    private static double optionalPositive(Path file, JsonNode c, String field, double fallback) {
        JsonNode n = c.get(field);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isNumber() || !(n.asDouble() > 0) || Double.isInfinite(n.asDouble())) {
            throw InputException.at(file, field + " must be a positive number, got " + n);
        }
        return n.asDouble();
    }

    private static int requiredInt(Path file, JsonNode c, String field) {
        JsonNode n = c.get(field);
        if (n == null || n.isNull()) {
            throw InputException.at(file, "missing required field " + field);
        }
        if (!n.isIntegralNumber() || n.asLong() <= 0 || n.asLong() > Integer.MAX_VALUE) {
            throw InputException.at(file, field + " must be a positive integer, got " + n);
        }
        return n.asInt();
    }

    private static double requiredDouble(Path file, JsonNode c, String field) {
        JsonNode n = c.get(field);
        if (n == null || !n.isNumber()) {
            throw InputException.at(file, "rope_scaling." + field + " must be a number");
        }
        return n.asDouble();
    }

    public static LlamaCheckpoint read(Path dir) {
        return read(dir, null);
    }

    /**
     * @param packedOn where packed (vq4j) layers go: null to dequantize them on load into dense
     *                 layers, or a backend to upload them packed and run them with its
     *                 dequantMatmul ({@link PackedLinear}); the backend owns their device memory
     */
    public static LlamaCheckpoint read(Path dir, Backend packedOn) {
        LlamaConfig c = readConfig(dir);
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(dir)) {
            Loader l = new Loader(dir, st, packedOn);
            int d = c.dim();
            float[] embedding = l.floats("model.embed_tokens.weight", c.vocabSize(), d);
            // Llama's attention_bias also covers o_proj; Qwen2 biases only q/k/v
            boolean oBias = c.attentionBias() && !c.architecture().equals("Qwen2ForCausalLM");
            List<LayerWeights> layers = new ArrayList<>();
            for (int i = 0; i < c.nLayers(); i++) {
                String p = "model.layers." + i + ".";
                layers.add(new LayerWeights(
                        l.floats(p + "input_layernorm.weight", d),
                        l.linear(p + "self_attn.q_proj", c.qDim(), d, c.attentionBias()),
                        l.linear(p + "self_attn.k_proj", c.kvDim(), d, c.attentionBias()),
                        l.linear(p + "self_attn.v_proj", c.kvDim(), d, c.attentionBias()),
                        l.linear(p + "self_attn.o_proj", d, c.qDim(), oBias),
                        l.floats(p + "post_attention_layernorm.weight", d),
                        l.linear(p + "mlp.gate_proj", c.hiddenDim(), d, false),
                        l.linear(p + "mlp.down_proj", d, c.hiddenDim(), false),
                        l.linear(p + "mlp.up_proj", c.hiddenDim(), d, false)));
            }
            float[] norm = l.floats("model.norm.weight", d);
            Linear head = c.tieWordEmbeddings() && !st.contains("lm_head.weight")
                    ? new DenseLinear(embedding, null, c.vocabSize(), d)
                    : l.linear("lm_head", c.vocabSize(), d, false);
            l.checkAllUsed(c);
            return new LlamaCheckpoint(c, new LlamaWeights(embedding, List.copyOf(layers), norm, head), dir.toString());
        }
    }

    /** @param used the tensors read so far; @param packedPrefixes "name." of each packed layer read */
    private record Loader(Path dir, SafeTensorsDirectory st, Backend packedOn, Set<String> used,
                          Set<String> packedPrefixes) {
        Loader(Path dir, SafeTensorsDirectory st, Backend packedOn) {
            this(dir, st, packedOn, new HashSet<>(), new HashSet<>());
        }

        float[] floats(String name, long... shape) {
            used.add(name);
            SafeTensorsFile f = st.fileOf(name);
            if (f == null) {
                throw InputException.at(dir, "tensor '" + name + "' is missing");
            }
            long[] got = f.info(name).shape();
            if (!Arrays.equals(got, shape)) {
                throw InputException.at(f.path(), "tensor '" + name + "' has shape " + Arrays.toString(got)
                        + " but config.json implies " + Arrays.toString(shape));
            }
            return f.floats(name);
        }

        Linear linear(String name, int out, int in, boolean bias) {
            float[] b = bias ? floats(name + ".bias", out) : null;
            if (!st.contains(name + ".weight")) {
                for (PackedLayerReader r : READERS) {
                    PackedMatrix m = r.read(st, name, out, in);
                    if (m != null) {
                        int bad = Finite.firstNonFinite(m.floats());
                        if (bad >= 0) {
                            throw InputException.at(dir, "packed layer '" + name + "' has a non-finite codebook or"
                                    + " scale value (" + m.floats()[bad] + ")");
                        }
                        packedPrefixes.add(name + ".");
                        if (packedOn != null) {
                            return new PackedLinear(packedOn, packedOn.upload(m), b);
                        }
                        float[] w = new float[out * in];
                        PackedReference.dequant(m, w);
                        return new DenseLinear(w, b, out, in);
                    }
                }
            }
            return new DenseLinear(floats(name + ".weight", out, in), b, out, in);
        }

        /**
         * Every tensor of the directory must have been used: an extra one means config.json and
         * the checkpoint disagree (num_hidden_layers 3 on a 5-layer checkpoint evaluated 3 layers
         * with exit 0). Left alone: RoPE tables some exporters store (rotary_emb.inv_freq, recomputed
         * here), the packed layers' own tensors and the shared codebooks of the packed format.
         */
        void checkAllUsed(LlamaConfig c) {
            for (String t : st.names()) {
                if (used.contains(t) || t.endsWith(".rotary_emb.inv_freq") || READERS.stream().anyMatch(r -> r.owns(t))
                        || packedPrefixes.stream().anyMatch(t::startsWith)) {
                    continue;
                }
                Matcher m = LAYER.matcher(t);
                String why = m.matches() && Long.parseLong(m.group(1)) >= c.nLayers()
                        ? "a layer beyond num_hidden_layers=" + c.nLayers() + " of config.json"
                        : "not part of a " + c.architecture() + " with this config.json (num_hidden_layers="
                        + c.nLayers() + ", tie_word_embeddings=" + c.tieWordEmbeddings() + ", attention_bias="
                        + c.attentionBias() + ")";
                throw InputException.at(st.fileOf(t).path(), "tensor '" + t + "' is " + why
                        + ": the checkpoint and its config.json disagree");
            }
        }
    }

    /** The config.json of {@code c} as Hugging Face writes it. */
    public static ObjectNode configJson(LlamaConfig c, DType dtype) {
        ObjectNode o = JSON.createObjectNode();
        String arch = c.architecture().endsWith("ForCausalLM") ? c.architecture() : "LlamaForCausalLM";
        o.putArray("architectures").add(arch);
        o.put("model_type", switch (arch) {
            case "Qwen2ForCausalLM" -> "qwen2";
            case "MistralForCausalLM" -> "mistral";
            default -> "llama";
        });
        o.put("hidden_size", c.dim());
        o.put("intermediate_size", c.hiddenDim());
        o.put("num_hidden_layers", c.nLayers());
        o.put("num_attention_heads", c.nHeads());
        o.put("num_key_value_heads", c.nKvHeads());
        o.put("head_dim", c.headDim());
        o.put("vocab_size", c.vocabSize());
        o.put("max_position_embeddings", c.maxSeqLen());
        o.put("rope_theta", c.ropeTheta());
        if (c.ropeScaling() != null) {
            LlamaConfig.RopeScaling r = c.ropeScaling();
            ObjectNode s = o.putObject("rope_scaling");
            s.put("rope_type", "llama3");
            s.put("factor", r.factor());
            s.put("low_freq_factor", r.lowFreqFactor());
            s.put("high_freq_factor", r.highFreqFactor());
            s.put("original_max_position_embeddings", r.originalMaxPositionEmbeddings());
        }
        o.put("rms_norm_eps", c.rmsNormEps());
        o.put("tie_word_embeddings", c.tieWordEmbeddings());
        o.put("attention_bias", c.attentionBias());
        o.put("hidden_act", "silu");
        o.put("bos_token_id", c.bosId());
        o.put("eos_token_id", c.eosId());
        o.put("torch_dtype", switch (dtype) {
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            default -> "float32";
        });
        return o;
    }

    /** Writes extra files (a tokenizer) into the directory being built. */
    @FunctionalInterface
    public interface ExtraFiles {
        void writeInto(Path dir) throws IOException;
    }

    /**
     * Writes config.json and model.safetensors (dense weights stored as {@code dtype}) into
     * {@code dir}, which must not exist or be empty. The directory is built under a temporary
     * name beside it and renamed when complete, so a crash never leaves a half-written model.
     * Tied embeddings are written once, as HF does.
     */
    public static void write(LlamaCheckpoint ckpt, Path dir, DType dtype) {
        write(ckpt, dir, dtype, null);
    }

    /** {@link #write(LlamaCheckpoint, Path, DType)}, with {@code extra} adding files before the directory appears. */
    public static void write(LlamaCheckpoint ckpt, Path dir, DType dtype, ExtraFiles extra) {
        if (!dtype.isFloating()) {
            throw new IllegalArgumentException("weights cannot be stored as " + dtype);
        }
        writeTensors(ckpt.config(), dir, dtype, tensors(ckpt, dtype), extra);
    }

    /**
     * Like {@link #write(LlamaCheckpoint, Path, DType, ExtraFiles)}, for tensors that are
     * produced while they are written (see {@link SyntheticModel#tensors}): {@code tensors}
     * must hold the Hugging Face names and shapes that {@code c} implies.
     */
    public static void writeTensors(LlamaConfig c, Path dir, DType dtype, SafeTensorsWriter tensors, ExtraFiles extra) {
        Path target = dir.toAbsolutePath().normalize();
        try {
            if (Files.exists(target) && !Files.isDirectory(target)) {
                throw InputException.at(target, "exists and is not a directory; choose a new --out");
            }
            if (Files.exists(target)) {
                try (Stream<Path> s = Files.list(target)) {
                    if (s.findAny().isPresent()) {
                        throw InputException.at(target, "exists and is not empty; choose a new --out");
                    }
                }
            }
            AtomicFiles.removeTemporaryDirs(target); // what a killed convert or dequantize into it left
            Path tmp = AtomicFiles.tempDirBeside(target);
            try {
                Files.writeString(tmp.resolve("config.json"),
                        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(configJson(c, dtype)));
                tensors.write(tmp.resolve(SafeTensorsDirectory.SINGLE));
                if (extra != null) {
                    extra.writeInto(tmp);
                }
                Files.deleteIfExists(target);
                AtomicFiles.commit(tmp, target);
            } catch (IOException | RuntimeException e) {
                deleteTree(tmp);
                throw e;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static SafeTensorsWriter tensors(LlamaCheckpoint ckpt, DType dtype) {
        LlamaConfig c = ckpt.config();
        LlamaWeights w = ckpt.weights();
        SafeTensorsWriter out = new SafeTensorsWriter().metadata("format", "pt");
        int d = c.dim();
        out.addFloats("model.embed_tokens.weight", dtype, new long[] {c.vocabSize(), d}, w.tokenEmbedding());
        for (int i = 0; i < c.nLayers(); i++) {
            String p = "model.layers." + i + ".";
            LayerWeights l = w.layers().get(i);
            out.addFloats(p + "input_layernorm.weight", dtype, new long[] {d}, l.attnNorm());
            linear(out, p + "self_attn.q_proj", l.wq(), dtype);
            linear(out, p + "self_attn.k_proj", l.wk(), dtype);
            linear(out, p + "self_attn.v_proj", l.wv(), dtype);
            linear(out, p + "self_attn.o_proj", l.wo(), dtype);
            out.addFloats(p + "post_attention_layernorm.weight", dtype, new long[] {d}, l.ffnNorm());
            linear(out, p + "mlp.gate_proj", l.w1(), dtype);
            linear(out, p + "mlp.down_proj", l.w2(), dtype);
            linear(out, p + "mlp.up_proj", l.w3(), dtype);
        }
        out.addFloats("model.norm.weight", dtype, new long[] {d}, w.finalNorm());
        if (!c.tieWordEmbeddings()) {
            linear(out, "lm_head", w.lmHead(), dtype);
        }
        return out;
    }

    private static void linear(SafeTensorsWriter out, String name, Linear l, DType dtype) {
        if (!(l instanceof DenseLinear dl)) {
            throw new IllegalArgumentException(name + " is a " + l.getClass().getSimpleName()
                    + "; only dense (DenseLinear) weights can be written as a Hugging Face checkpoint");
        }
        // weight() unpacks a copy: do it while writing, one layer at a time, not for the whole model up front
        out.add(name + ".weight", dtype, new long[] {dl.outFeatures(), dl.inFeatures()},
                ch -> SafeTensorsWriter.writeFloats(ch, dl.weight(), dtype));
        if (dl.bias() != null) {
            out.addFloats(name + ".bias", dtype, new long[] {dl.outFeatures()}, dl.bias());
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(q);
            }
        }
    }
}
