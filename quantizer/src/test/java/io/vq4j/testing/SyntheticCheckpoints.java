package io.vq4j.testing;

import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** Writes random Llama-family checkpoints in Hugging Face layout for tests. */
public final class SyntheticCheckpoints {
    private SyntheticCheckpoints() {
    }

    public record Spec(String architecture, int dim, int hidden, int layers, int heads, int kvHeads, int vocab,
                       int maxPos, boolean tie, boolean ropeScaling, int shards, long seed) {
    }

    /** Writes config.json and the weights; tensors alternate bf16 / f16 / f32; returns the values as stored. */
    public static Map<String, float[]> write(Spec s, Path dir) throws IOException {
        Files.createDirectories(dir);
        boolean qwen = s.architecture().equals("Qwen2ForCausalLM");
        int hd = s.dim() / s.heads();
        StringBuilder cfg = new StringBuilder("{\"architectures\":[\"" + s.architecture() + "\"],")
                .append("\"hidden_size\":").append(s.dim()).append(",\"intermediate_size\":").append(s.hidden())
                .append(",\"num_hidden_layers\":").append(s.layers()).append(",\"num_attention_heads\":").append(s.heads())
                .append(",\"num_key_value_heads\":").append(s.kvHeads()).append(",\"vocab_size\":").append(s.vocab())
                .append(",\"max_position_embeddings\":").append(s.maxPos()).append(",\"rms_norm_eps\":1e-6")
                .append(",\"rope_theta\":500000.0,\"tie_word_embeddings\":").append(s.tie())
                .append(",\"bos_token_id\":1,\"eos_token_id\":[2,3]");
        if (s.ropeScaling()) {
            cfg.append(",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,")
                    .append("\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8}");
        }
        Files.writeString(dir.resolve("config.json"), cfg.append('}').toString());

        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("model.embed_tokens.weight", new long[] {s.vocab(), s.dim()});
        for (int l = 0; l < s.layers(); l++) {
            String p = "model.layers." + l + ".";
            shapes.put(p + "input_layernorm.weight", new long[] {s.dim()});
            shapes.put(p + "self_attn.q_proj.weight", new long[] {(long) s.heads() * hd, s.dim()});
            shapes.put(p + "self_attn.k_proj.weight", new long[] {(long) s.kvHeads() * hd, s.dim()});
            shapes.put(p + "self_attn.v_proj.weight", new long[] {(long) s.kvHeads() * hd, s.dim()});
            if (qwen) {
                shapes.put(p + "self_attn.q_proj.bias", new long[] {(long) s.heads() * hd});
                shapes.put(p + "self_attn.k_proj.bias", new long[] {(long) s.kvHeads() * hd});
                shapes.put(p + "self_attn.v_proj.bias", new long[] {(long) s.kvHeads() * hd});
            }
            shapes.put(p + "self_attn.o_proj.weight", new long[] {s.dim(), (long) s.heads() * hd});
            shapes.put(p + "post_attention_layernorm.weight", new long[] {s.dim()});
            shapes.put(p + "mlp.gate_proj.weight", new long[] {s.hidden(), s.dim()});
            shapes.put(p + "mlp.up_proj.weight", new long[] {s.hidden(), s.dim()});
            shapes.put(p + "mlp.down_proj.weight", new long[] {s.dim(), s.hidden()});
        }
        shapes.put("model.norm.weight", new long[] {s.dim()});
        if (!s.tie()) {
            shapes.put("lm_head.weight", new long[] {s.vocab(), s.dim()});
        }
        SplittableRandom rnd = new SplittableRandom(s.seed());
        DType[] cycle = {DType.BF16, DType.F16, DType.F32};
        SafeTensorsWriter[] writers = new SafeTensorsWriter[s.shards()];
        for (int i = 0; i < writers.length; i++) {
            writers[i] = new SafeTensorsWriter().metadata("format", "pt");
        }
        Map<String, float[]> stored = new LinkedHashMap<>();
        StringBuilder index = new StringBuilder("{\"metadata\":{},\"weight_map\":{");
        int k = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            long n = 1;
            for (long d : e.getValue()) {
                n *= d;
            }
            float[] v = new float[(int) n];
            boolean norm = e.getKey().endsWith("norm.weight");
            double scale = 1.0 / Math.sqrt(e.getValue()[e.getValue().length - 1]);
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (norm ? 1 + 0.1 * rnd.nextGaussian() : rnd.nextGaussian() * scale);
            }
            DType d = cycle[k % cycle.length];
            for (int i = 0; i < v.length; i++) { // the values as they will read back
                v[i] = switch (d) {
                    case BF16 -> DType.bf16ToFloat(DType.floatToBf16(v[i]));
                    case F16 -> Float.float16ToFloat(Float.floatToFloat16(v[i]));
                    default -> v[i];
                };
            }
            int shard = k * s.shards() / shapes.size();
            writers[shard].addFloats(e.getKey(), d, e.getValue(), v);
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

    static String shardName(int i, int n) {
        return String.format("model-%05d-of-%05d.safetensors", i + 1, n);
    }
}
