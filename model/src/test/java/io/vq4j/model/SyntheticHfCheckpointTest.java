package io.vq4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vq4j.io.DType;
import io.vq4j.testing.SyntheticCheckpoints;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sharded HF checkpoints with bf16/f16/f32 tensors, GQA, Qwen2 biases and Llama-3 RoPE scaling,
 * loaded and run by the CPU model, against a plain double-precision transcription of the
 * Hugging Face Llama forward written here from the stored tensors.
 */
class SyntheticHfCheckpointTest {
    @TempDir
    Path dir;

    @Test
    void qwen2WithBiasesGqaMixedDtypesAndTwoShardsMatchesReference() throws IOException {
        check(new SyntheticCheckpoints.Spec("Qwen2ForCausalLM", 48, 80, 2, 6, 2, 40, 64, true, false, false,
                SyntheticCheckpoints.Spec.MIXED, 2, 11));
    }

    @Test
    void llamaWithRopeScalingTiedEmbeddingsAndThreeShardsMatchesReference() throws IOException {
        check(new SyntheticCheckpoints.Spec("LlamaForCausalLM", 32, 64, 2, 4, 1, 30, 64, false, true, true,
                List.of(DType.BF16, DType.F16), 3, 12));
    }

    @Test
    void mistralWithAttentionBiasIncludingOutputProjectionInF16MatchesReference() throws IOException {
        check(new SyntheticCheckpoints.Spec("MistralForCausalLM", 32, 48, 1, 4, 4, 25, 64, true, false, false,
                List.of(DType.F16), 1, 13));
    }

    private void check(SyntheticCheckpoints.Spec s) throws IOException {
        Map<String, float[]> w = SyntheticCheckpoints.write(s, dir);
        LlamaCheckpoint ckpt = HfCheckpoints.read(dir);
        assertEquals(s.bias(), ckpt.config().attentionBias());
        assertEquals(2, ckpt.config().eosId(), "first of eos_token_id list");
        int[] ids = {1, 7, 3, 19, 5, 0, 22, 9, 13, 2, 17, 4};
        LlamaModel model = LlamaModel.of(ckpt);
        float[] got = model.forward(ids, 0, ids.length, model.newCache(ids.length), true);
        double[][] expected = reference(s, ckpt.config(), w, ids);
        for (int t = 0; t < ids.length; t++) {
            for (int v = 0; v < s.vocab(); v++) {
                double e = expected[t][v];
                assertEquals(e, got[t * s.vocab() + v], 1e-4 * Math.max(1, Math.abs(e)), "pos " + t + " logit " + v);
            }
        }
    }

    /** Straight from the HF definition, in double, no batching or caching. */
    private static double[][] reference(SyntheticCheckpoints.Spec s, LlamaConfig c, Map<String, float[]> w, int[] ids) {
        int d = s.dim();
        int hd = d / s.heads();
        int T = ids.length;
        double[] invFreq = hfInvFreq(c);
        double[][] x = new double[T][d];
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < d; i++) {
                x[t][i] = w.get("model.embed_tokens.weight")[ids[t] * d + i];
            }
        }
        for (int l = 0; l < s.layers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] h = norm(x, w.get(p + "input_layernorm.weight"), 1e-6);
            double[][] q = lin(h, w.get(p + "self_attn.q_proj.weight"), w.get(p + "self_attn.q_proj.bias"), s.heads() * hd);
            double[][] k = lin(h, w.get(p + "self_attn.k_proj.weight"), w.get(p + "self_attn.k_proj.bias"), s.kvHeads() * hd);
            double[][] v = lin(h, w.get(p + "self_attn.v_proj.weight"), w.get(p + "self_attn.v_proj.bias"), s.kvHeads() * hd);
            rope(q, s.heads(), hd, invFreq);
            rope(k, s.kvHeads(), hd, invFreq);
            double[][] o = new double[T][s.heads() * hd];
            for (int head = 0; head < s.heads(); head++) {
                int kv = head / (s.heads() / s.kvHeads());
                for (int t = 0; t < T; t++) {
                    double[] a = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= t; j++) {
                        for (int i = 0; i < hd; i++) {
                            a[j] += q[t][head * hd + i] * k[j][kv * hd + i];
                        }
                        a[j] /= Math.sqrt(hd);
                        max = Math.max(max, a[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= t; j++) {
                        a[j] = Math.exp(a[j] - max);
                        sum += a[j];
                    }
                    for (int j = 0; j <= t; j++) {
                        for (int i = 0; i < hd; i++) {
                            o[t][head * hd + i] += a[j] / sum * v[j][kv * hd + i];
                        }
                    }
                }
            }
            add(x, lin(o, w.get(p + "self_attn.o_proj.weight"), w.get(p + "self_attn.o_proj.bias"), d));
            h = norm(x, w.get(p + "post_attention_layernorm.weight"), 1e-6);
            double[][] g = lin(h, w.get(p + "mlp.gate_proj.weight"), null, s.hidden());
            double[][] u = lin(h, w.get(p + "mlp.up_proj.weight"), null, s.hidden());
            for (int t = 0; t < T; t++) {
                for (int i = 0; i < s.hidden(); i++) {
                    g[t][i] = g[t][i] / (1 + Math.exp(-g[t][i])) * u[t][i];
                }
            }
            add(x, lin(g, w.get(p + "mlp.down_proj.weight"), null, d));
        }
        double[][] h = norm(x, w.get("model.norm.weight"), 1e-6);
        return lin(h, w.get(s.tie() ? "model.embed_tokens.weight" : "lm_head.weight"), null, s.vocab());
    }

    /** HF's _compute_llama3_parameters, written as its where-expressions. */
    private static double[] hfInvFreq(LlamaConfig c) {
        int half = c.headDim() / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            double base = Math.pow(c.ropeTheta(), -(2.0 * i) / c.headDim());
            inv[i] = base;
            LlamaConfig.RopeScaling r = c.ropeScaling();
            if (r != null) {
                double wavelen = 2 * Math.PI / base;
                double lowWl = r.originalMaxPositionEmbeddings() / r.lowFreqFactor();
                double highWl = r.originalMaxPositionEmbeddings() / r.highFreqFactor();
                double scaled = wavelen > lowWl ? base / r.factor() : base;
                double smooth = (r.originalMaxPositionEmbeddings() / wavelen - r.lowFreqFactor())
                        / (r.highFreqFactor() - r.lowFreqFactor());
                boolean medium = !(wavelen < highWl) && !(wavelen > lowWl);
                inv[i] = medium ? (1 - smooth) * scaled / r.factor() + smooth * scaled : scaled;
            }
        }
        return inv;
    }

    private static double[][] norm(double[][] x, float[] g, double eps) {
        double[][] out = new double[x.length][x[0].length];
        for (int t = 0; t < x.length; t++) {
            double ss = 0;
            for (double v : x[t]) {
                ss += v * v;
            }
            double r = 1 / Math.sqrt(ss / x[t].length + eps);
            for (int i = 0; i < x[t].length; i++) {
                out[t][i] = x[t][i] * r * g[i];
            }
        }
        return out;
    }

    private static double[][] lin(double[][] x, float[] w, float[] b, int out) {
        int in = x[0].length;
        double[][] y = new double[x.length][out];
        for (int t = 0; t < x.length; t++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) {
                    s += x[t][i] * w[o * in + i];
                }
                y[t][o] = s;
            }
        }
        return y;
    }

    private static void rope(double[][] a, int heads, int hd, double[] invFreq) {
        int half = hd / 2;
        for (int t = 0; t < a.length; t++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < half; i++) {
                    double c = Math.cos(t * invFreq[i]);
                    double s = Math.sin(t * invFreq[i]);
                    double x0 = a[t][h * hd + i];
                    double x1 = a[t][h * hd + i + half];
                    a[t][h * hd + i] = x0 * c - x1 * s;
                    a[t][h * hd + i + half] = x1 * c + x0 * s;
                }
            }
        }
    }

    private static void add(double[][] x, double[][] d) {
        for (int t = 0; t < x.length; t++) {
            for (int i = 0; i < x[t].length; i++) {
                x[t][i] += d[t][i];
            }
        }
    }
}
