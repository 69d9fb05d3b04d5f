package io.vq4j.model;

import io.vq4j.core.Parallel;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Random Llama-family weights with heavy tails (Student-t, 4 degrees of freedom, scaled by
 * 1/sqrt(fan-in); embeddings at 0.02 as Hugging Face initialises them, so the tied output
 * layer gives sane logits), for exercising shapes no real model here has. Deterministic per seed:
 * every tensor draws from its own generator split off in a fixed order, and every block of
 * {@value #BLOCK} values from its own generator split off that one, so the values do not depend
 * on the thread count, and {@link #create} and {@link #tensors} give the same weights.
 */
public final class SyntheticModel {
    static final int BLOCK = 1 << 16;
    /** Blocks generated in parallel before they are written: 64 × 64 Ki floats = 16 MiB of heap. */
    static final int BLOCKS_PER_WRITE = 64;

    private SyntheticModel() {
    }

    public static LlamaConfig config(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int maxSeq) {
        return new LlamaConfig("LlamaForCausalLM", dim, hidden, layers, heads, kvHeads, dim / heads, vocab, maxSeq,
                10000.0, null, 1e-5, true, false, 1, 2);
    }

    /** The weights in memory. */
    public static LlamaCheckpoint create(LlamaConfig c, long seed) {
        Plan p = new Plan(c, seed);
        float[] embedding = p.embedding.values();
        List<LayerWeights> layers = new ArrayList<>();
        for (Plan.Layer l : p.layers) {
            layers.add(new LayerWeights(ones(c.dim()), l.q.linear(), l.k.linear(), l.v.linear(), l.o.linear(),
                    ones(c.dim()), l.gate.linear(), l.down.linear(), l.up.linear()));
        }
        LlamaWeights w = new LlamaWeights(embedding, List.copyOf(layers), ones(c.dim()),
                new DenseLinear(embedding, null, c.vocabSize(), c.dim()));
        return new LlamaCheckpoint(c, w, "synthetic(seed=" + seed + ")");
    }

    /**
     * The same weights as {@link #create}, in Hugging Face tensor names, generated while they
     * are written (16 MiB of heap at a time instead of the whole model). The writer may be
     * written once.
     */
    public static SafeTensorsWriter tensors(LlamaConfig c, long seed, DType dtype) {
        return tensors(c, seed, dtype, BLOCKS_PER_WRITE);
    }

    static SafeTensorsWriter tensors(LlamaConfig c, long seed, DType dtype, int blocksPerWrite) {
        Plan p = new Plan(c, seed);
        int d = c.dim();
        long[] norm = {d};
        SafeTensorsWriter out = new SafeTensorsWriter().metadata("format", "pt");
        p.embedding.addTo(out, "model.embed_tokens.weight", dtype, blocksPerWrite);
        for (int i = 0; i < c.nLayers(); i++) {
            String pre = "model.layers." + i + ".";
            Plan.Layer l = p.layers.get(i);
            out.addFloats(pre + "input_layernorm.weight", dtype, norm, ones(d));
            l.q.addTo(out, pre + "self_attn.q_proj.weight", dtype, blocksPerWrite);
            l.k.addTo(out, pre + "self_attn.k_proj.weight", dtype, blocksPerWrite);
            l.v.addTo(out, pre + "self_attn.v_proj.weight", dtype, blocksPerWrite);
            l.o.addTo(out, pre + "self_attn.o_proj.weight", dtype, blocksPerWrite);
            out.addFloats(pre + "post_attention_layernorm.weight", dtype, norm, ones(d));
            l.gate.addTo(out, pre + "mlp.gate_proj.weight", dtype, blocksPerWrite);
            l.up.addTo(out, pre + "mlp.up_proj.weight", dtype, blocksPerWrite);
            l.down.addTo(out, pre + "mlp.down_proj.weight", dtype, blocksPerWrite);
        }
        out.addFloats("model.norm.weight", dtype, norm, ones(d));
        return out;
    }

    /** Every tensor's generators, split off the seed in one fixed order. */
    private static final class Plan {
        record Layer(Tensor q, Tensor k, Tensor v, Tensor o, Tensor gate, Tensor down, Tensor up) {
        }

        final Tensor embedding;
        final List<Layer> layers = new ArrayList<>();

        Plan(LlamaConfig c, long seed) {
            SplittableRandom root = new SplittableRandom(seed);
            int d = c.dim();
            embedding = new Tensor(root.split(), c.vocabSize(), d, 0.02);
            for (int l = 0; l < c.nLayers(); l++) {
                layers.add(new Layer(Tensor.linear(root.split(), c.qDim(), d), Tensor.linear(root.split(), c.kvDim(), d),
                        Tensor.linear(root.split(), c.kvDim(), d), Tensor.linear(root.split(), d, c.qDim()),
                        Tensor.linear(root.split(), c.hiddenDim(), d), Tensor.linear(root.split(), d, c.hiddenDim()),
                        Tensor.linear(root.split(), c.hiddenDim(), d)));
            }
        }
    }

    /** One random tensor [rows][cols]: a generator per block, each used once. */
    private static final class Tensor {
        final int rows;
        final int cols;
        final long n;
        final double norm;
        final SplittableRandom[] blocks;
        final AtomicBoolean used = new AtomicBoolean();

        Tensor(SplittableRandom r, int rows, int cols, double scale) {
            this.rows = rows;
            this.cols = cols;
            this.n = (long) rows * cols;
            this.norm = scale / Math.sqrt(2.0); // t(4) has variance 2
            this.blocks = new SplittableRandom[(int) ((n + BLOCK - 1) / BLOCK)];
            for (int b = 0; b < blocks.length; b++) {
                blocks[b] = r.split();
            }
        }

        static Tensor linear(SplittableRandom r, int out, int in) {
            return new Tensor(r, out, in, 1.0 / Math.sqrt(in));
        }

        private void claim() {
            if (used.getAndSet(true)) {
                throw new IllegalStateException("synthetic tensor generated twice; its generators are spent");
            }
        }

        /** Fills v[0, min(count, n - first·BLOCK)) from blocks [first, first + count/BLOCK). */
        private void fill(float[] v, int first, int count) {
            int nb = Math.min((count + BLOCK - 1) / BLOCK, blocks.length - first);
            Parallel.forEach(0, nb, j -> {
                long start = (long) (first + j) * BLOCK;
                int len = (int) Math.min(BLOCK, n - start);
                studentT4(blocks[first + j], v, j * BLOCK, len, norm);
            });
        }

        float[] values() {
            claim();
            float[] v = new float[Math.toIntExact(n)];
            fill(v, 0, v.length);
            return v;
        }

        DenseLinear linear() {
            return new DenseLinear(values(), null, rows, cols);
        }

        void addTo(SafeTensorsWriter out, String name, DType dtype, int blocksPerWrite) {
            out.add(name, dtype, new long[] {rows, cols}, ch -> {
                claim();
                float[] buf = new float[(int) Math.min(n, (long) blocksPerWrite * BLOCK)];
                for (int first = 0; first < blocks.length; first += blocksPerWrite) {
                    int len = (int) Math.min(buf.length, n - (long) first * BLOCK);
                    fill(buf, first, len);
                    SafeTensorsWriter.writeFloats(ch, buf, 0, len, dtype);
                }
            });
        }
    }

    /** Student-t(4) as z / sqrt(chi²₄ / 4), times {@code norm}. */
    private static void studentT4(SplittableRandom g, float[] v, int from, int count, double norm) {
        for (int i = from; i < from + count; i++) {
            double z = g.nextGaussian();
            double chi = 0;
            for (int k = 0; k < 4; k++) {
                double y = g.nextGaussian();
                chi += y * y;
            }
            v[i] = (float) (z / Math.sqrt(chi / 4) * norm);
        }
    }

    private static float[] ones(int d) {
        float[] g = new float[d];
        Arrays.fill(g, 1f);
        return g;
    }
}
