package io.vq4j.testing;

import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.SyntheticModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Writes random Llama-family checkpoints in Hugging Face layout, for tests and benchmarks. */
public final class SyntheticCheckpoints {
    private SyntheticCheckpoints() {
    }

    /**
     * A small checkpoint.
     *
     * @param architecture LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM
     * @param bias         q/k/v biases; for Llama/Mistral also o_proj (attention_bias); Qwen2 requires it
     * @param tie          tied embeddings: no lm_head.weight
     * @param ropeScaling  Llama-3 RoPE scaling with original_max_position_embeddings 8, so short tests reach it
     * @param dtypes       storage dtypes, cycled over the tensors in file order (one entry: all alike)
     * @param shards       1: model.safetensors; more: model-0000i-of-0000n.safetensors and an index
     */
    public record Spec(String architecture, int dim, int hidden, int layers, int heads, int kvHeads, int vocab,
                       int maxPos, boolean bias, boolean tie, boolean ropeScaling, List<DType> dtypes, int shards,
                       long seed) {
        public static final List<DType> MIXED = List.of(DType.BF16, DType.F16, DType.F32);

        public Spec {
            if (architecture.equals("Qwen2ForCausalLM") && !bias) {
                throw new IllegalArgumentException("Qwen2 always has q/k/v biases");
            }
            if (dtypes.isEmpty() || shards < 1) {
                throw new IllegalArgumentException("need a dtype and a shard");
            }
        }

        public int headDim() {
            return dim / heads;
        }
    }

    /** Writes config.json and the weights into {@code dir}; returns every tensor's values as they read back. */
    public static Map<String, float[]> write(Spec s, Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config(s));
        Map<String, long[]> shapes = shapes(s);
        SplittableRandom rnd = new SplittableRandom(s.seed());
        SafeTensorsWriter[] writers = new SafeTensorsWriter[s.shards()];
        for (int i = 0; i < writers.length; i++) {
            writers[i] = new SafeTensorsWriter().metadata("format", "pt");
        }
        Map<String, float[]> stored = new LinkedHashMap<>();
        StringBuilder index = new StringBuilder("{\"metadata\":{},\"weight_map\":{");
        int k = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long[] shape = e.getValue();
            float[] v = new float[(int) (shape.length == 1 ? shape[0] : shape[0] * shape[1])];
            boolean norm = e.getKey().endsWith("norm.weight");
            double scale = 1.0 / Math.sqrt(shape[shape.length - 1]);
            DType d = s.dtypes().get(k % s.dtypes().size());
            for (int i = 0; i < v.length; i++) {
                v[i] = d.stored((float) (norm ? 1 + 0.1 * rnd.nextGaussian() : rnd.nextGaussian() * scale));
            }
            int shard = k * s.shards() / shapes.size();
            writers[shard].addFloats(e.getKey(), d, shape, v);
            stored.put(e.getKey(), v);
            index.append(k == 0 ? "" : ",").append('"').append(e.getKey()).append("\":\"")
                    .append(shardName(shard, s.shards())).append('"');
            k++;
        }
        if (s.shards() == 1) {
            writers[0].write(dir.resolve("model.safetensors"));
        } else {
            for (int i = 0; i < writers.length; i++) {
                writers[i].write(dir.resolve(shardName(i, s.shards())));
            }
            Files.writeString(dir.resolve("model.safetensors.index.json"), index.append("}}").toString());
        }
        return stored;
    }

    private static String config(Spec s) {
        boolean qwen = s.architecture().equals("Qwen2ForCausalLM");
        StringBuilder cfg = new StringBuilder("{\"architectures\":[\"" + s.architecture() + "\"],")
                .append("\"hidden_size\":").append(s.dim()).append(",\"intermediate_size\":").append(s.hidden())
                .append(",\"num_hidden_layers\":").append(s.layers()).append(",\"num_attention_heads\":").append(s.heads())
                .append(",\"num_key_value_heads\":").append(s.kvHeads()).append(",\"vocab_size\":").append(s.vocab())
                .append(",\"max_position_embeddings\":").append(s.maxPos()).append(",\"rms_norm_eps\":1e-6")
                .append(",\"rope_theta\":500000.0,\"tie_word_embeddings\":").append(s.tie())
                .append(",\"bos_token_id\":1,\"eos_token_id\":[2,3]");
        if (!qwen) {
            cfg.append(",\"attention_bias\":").append(s.bias());
        }
        if (s.ropeScaling()) {
            cfg.append(",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,")
                    .append("\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8}");
        }
        return cfg.append('}').toString();
    }

    /** Tensor names and shapes in the order HF writes them. */
    private static Map<String, long[]> shapes(Spec s) {
        boolean oBias = s.bias() && !s.architecture().equals("Qwen2ForCausalLM");
        long q = (long) s.heads() * s.headDim();
        long kv = (long) s.kvHeads() * s.headDim();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("model.embed_tokens.weight", new long[] {s.vocab(), s.dim()});
        for (int l = 0; l < s.layers(); l++) {
            String p = "model.layers." + l + ".";
            shapes.put(p + "input_layernorm.weight", new long[] {s.dim()});
            shapes.put(p + "self_attn.q_proj.weight", new long[] {q, s.dim()});
            shapes.put(p + "self_attn.k_proj.weight", new long[] {kv, s.dim()});
            shapes.put(p + "self_attn.v_proj.weight", new long[] {kv, s.dim()});
            if (s.bias()) {
                shapes.put(p + "self_attn.q_proj.bias", new long[] {q});
                shapes.put(p + "self_attn.k_proj.bias", new long[] {kv});
                shapes.put(p + "self_attn.v_proj.bias", new long[] {kv});
            }
            shapes.put(p + "self_attn.o_proj.weight", new long[] {s.dim(), q});
            if (oBias) {
                shapes.put(p + "self_attn.o_proj.bias", new long[] {s.dim()});
            }
            shapes.put(p + "post_attention_layernorm.weight", new long[] {s.dim()});
            shapes.put(p + "mlp.gate_proj.weight", new long[] {s.hidden(), s.dim()});
            shapes.put(p + "mlp.up_proj.weight", new long[] {s.hidden(), s.dim()});
            shapes.put(p + "mlp.down_proj.weight", new long[] {s.dim(), s.hidden()});
        }
        shapes.put("model.norm.weight", new long[] {s.dim()});
        if (!s.tie()) {
            shapes.put("lm_head.weight", new long[] {s.vocab(), s.dim()});
        }
        return shapes;
    }

    static String shardName(int i, int n) {
        return String.format("model-%05d-of-%05d.safetensors", i + 1, n);
    }

    /** The benchmark model: ~100M parameters, GQA 12/4, tied, as `vq synth` makes by default. */
    public static LlamaConfig hundredMillion() {
        return SyntheticModel.config(768, 2048, 12, 12, 4, 32000, 1024);
    }

    /**
     * Writes {@code c} with heavy-tailed (Student-t) weights as f32, generating them while they
     * are written, so the heap holds 16 MiB of weights at a time rather than the model.
     */
    public static void writeHeavyTailed(LlamaConfig c, long seed, Path dir) {
        HfCheckpoints.writeTensors(c, dir, DType.F32, SyntheticModel.tensors(c, seed, DType.F32), null);
    }

    /** {@code SyntheticCheckpoints OUT_DIR [SEED]}: writes the ~100M-parameter model into OUT_DIR (new or empty). */
    public static void main(String[] args) {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: SyntheticCheckpoints OUT_DIR [SEED]");
            System.exit(2);
        }
        LlamaConfig c = hundredMillion();
        long t0 = System.nanoTime();
        try {
            writeHeavyTailed(c, args.length > 1 ? Long.parseLong(args[1]) : 1, Path.of(args[0]));
        } catch (InputException e) {
            System.err.println(e.getMessage());
            System.exit(2);
        }
        System.out.printf("wrote %s: %,d parameters in %.1f s%n", args[0], c.parameterCount(), (System.nanoTime() - t0) / 1e9);
    }
}
