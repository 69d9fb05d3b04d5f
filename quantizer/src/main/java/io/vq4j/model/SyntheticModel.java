package io.vq4j.model;

import io.vq4j.core.Parallel;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random Llama-family weights with heavy tails (Student-t, 4 degrees of freedom, scaled by
 * 1/sqrt(fan-in); embeddings at 0.02 as Hugging Face initialises them, so the tied output
 * layer gives sane logits), for exercising shapes no real model here has. Deterministic per seed:
 * every tensor draws from its own generator split off in a fixed order.
 */
public final class SyntheticModel {
    private SyntheticModel() {
    }

    public static LlamaConfig config(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int maxSeq) {
        return new LlamaConfig("LlamaForCausalLM", dim, hidden, layers, heads, kvHeads, dim / heads, vocab, maxSeq,
                10000.0, null, 1e-5, true, false, 1, 2);
    }

    public static LlamaCheckpoint create(LlamaConfig c, long seed) {
        SplittableRandom root = new SplittableRandom(seed);
        int d = c.dim();
        float[] embedding = tensor(root.split(), (long) c.vocabSize() * d, 0.02);
        List<LayerWeights> layers = new ArrayList<>();
        for (int l = 0; l < c.nLayers(); l++) {
            layers.add(new LayerWeights(norm(d),
                    linear(root.split(), c.qDim(), d), linear(root.split(), c.kvDim(), d),
                    linear(root.split(), c.kvDim(), d), linear(root.split(), d, c.qDim()),
                    norm(d),
                    linear(root.split(), c.hiddenDim(), d), linear(root.split(), d, c.hiddenDim()),
                    linear(root.split(), c.hiddenDim(), d)));
        }
        LlamaWeights w = new LlamaWeights(embedding, List.copyOf(layers), norm(d),
                new DenseLinear(embedding, null, c.vocabSize(), d));
        return new LlamaCheckpoint(c, w, "synthetic(seed=" + seed + ")");
    }

    private static float[] norm(int d) {
        float[] g = new float[d];
        java.util.Arrays.fill(g, 1f);
        return g;
    }

    private static DenseLinear linear(SplittableRandom r, int out, int in) {
        return new DenseLinear(tensor(r, (long) out * in, 1.0 / Math.sqrt(in)), null, out, in);
    }

    /** Student-t(4) values, filled in fixed-size blocks each with its own split generator. */
    private static float[] tensor(SplittableRandom r, long n, double scale) {
        float[] v = new float[Math.toIntExact(n)];
        int block = 1 << 16;
        int blocks = (int) ((n + block - 1) / block);
        SplittableRandom[] gens = new SplittableRandom[blocks];
        for (int b = 0; b < blocks; b++) {
            gens[b] = r.split();
        }
        double norm = scale / Math.sqrt(2.0); // t(4) has variance 2
        Parallel.forEach(0, blocks, b -> {
            SplittableRandom g = gens[b];
            int end = (int) Math.min(n, (long) (b + 1) * block);
            for (int i = b * block; i < end; i++) {
                double z = g.nextGaussian();
                double chi = 0;
                for (int k = 0; k < 4; k++) {
                    double y = g.nextGaussian();
                    chi += y * y;
                }
                v[i] = (float) (z / Math.sqrt(chi / 4) * norm);
            }
        });
        return v;
    }
}
