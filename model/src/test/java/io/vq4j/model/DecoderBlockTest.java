package io.vq4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.vq4j.testing.SharedData;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The calibration path ({@link DecoderBlock#forward(LayerWeights, float[][], int, ActivationHook)})
 * and {@link LlamaModel#forward} compute the same activations, bit for bit: every linear
 * layer's input and the block outputs, with and without weights swapped between groups.
 */
class DecoderBlockTest {
    /** A linear layer that keeps a copy of every input it is given. */
    private static final class Recording implements Linear {
        final Linear inner;
        final List<float[]> inputs = new ArrayList<>();

        Recording(Linear inner) {
            this.inner = inner;
        }

        @Override
        public int inFeatures() {
            return inner.inFeatures();
        }

        @Override
        public int outFeatures() {
            return inner.outFeatures();
        }

        @Override
        public void forward(float[] x, float[] y, int rows) {
            inputs.add(Arrays.copyOf(x, rows * inner.inFeatures()));
            inner.forward(x, y, rows);
        }
    }

    private static LayerWeights recording(LayerWeights lw) {
        LayerWeights out = lw;
        for (LinearGroup g : LinearGroup.values()) {
            for (String name : g.linears()) {
                out = out.with(name, new Recording(lw.linear(name)));
            }
        }
        return out;
    }

    private static LayerWeights perturbed(LayerWeights lw, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        LayerWeights out = lw;
        for (LinearGroup g : LinearGroup.values()) {
            for (String name : g.linears()) {
                DenseLinear d = (DenseLinear) lw.linear(name);
                float[] w = d.weight();
                for (int i = 0; i < w.length; i++) {
                    w[i] *= (float) (1 + 0.1 * (r.nextDouble() - 0.5));
                }
                out = out.with(name, new DenseLinear(w, d.bias(), d.outFeatures(), d.inFeatures()));
            }
        }
        return out;
    }

    /** Embeddings of tokens [from, from + len) (len × dim). */
    private static float[] embed(LlamaCheckpoint c, int[] ids, int from, int len) {
        int dim = c.config().dim();
        float[] x = new float[len * dim];
        for (int t = 0; t < len; t++) {
            System.arraycopy(c.weights().tokenEmbedding(), ids[from + t] * dim, x, t * dim, dim);
        }
        return x;
    }

    private static int[] tokens(LlamaConfig c, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(c.vocabSize());
        }
        return ids;
    }

    /**
     * Runs {@code sequences} sequences of {@code len} tokens through LlamaModel.forward (each on
     * its own, from position 0, with {@code model}'s weights recorded) and through the
     * calibration path (all sequences together, starting from {@code start}'s weights and
     * swapping in {@code model}'s block by block, group by group), and compares every input.
     */
    private static void samePath(LlamaCheckpoint start, LlamaCheckpoint model, int sequences, int len) {
        LlamaConfig c = model.config();
        int[] ids = tokens(c, sequences * len, 7);
        List<List<LayerWeights>> recorded = new ArrayList<>();
        float[][] logits = new float[sequences][];
        for (int s = 0; s < sequences; s++) {
            List<LayerWeights> layers = model.weights().layers().stream().map(DecoderBlockTest::recording).toList();
            LlamaModel m = new LlamaModel(c, new LlamaWeights(model.weights().tokenEmbedding(), layers,
                    model.weights().finalNorm(), model.weights().lmHead()));
            logits[s] = m.forward(ids, s * len, len, m.newCache(len), true);
            recorded.add(layers);
        }

        DecoderBlock block = new DecoderBlock(c);
        float[][] x = new float[sequences][];
        for (int s = 0; s < sequences; s++) {
            x[s] = embed(model, ids, s * len, len);
        }
        for (int l = 0; l < c.nLayers(); l++) {
            int layer = l;
            LayerWeights target = model.weights().layers().get(l);
            Map<LinearGroup, float[][]> seen = new EnumMap<>(LinearGroup.class);
            LayerWeights used = block.forward(start.weights().layers().get(l), x, len, new ActivationHook() {
                @Override
                public void input(LinearGroup g, int sequence, float[] in, int rows) {
                    assertEquals(len, rows);
                    assertEquals(rows * g.inputWidth(c), in.length);
                    seen.computeIfAbsent(g, k -> new float[sequences][])[sequence] = in.clone();
                }

                @Override
                public LayerWeights weights(LinearGroup g, LayerWeights lw) {
                    for (String name : g.linears()) {
                        lw = lw.with(name, target.linear(name));
                    }
                    return lw;
                }
            });
            for (LinearGroup g : LinearGroup.values()) {
                assertEquals(target.linear(g.linears().getFirst()), used.linear(g.linears().getFirst()));
                for (int s = 0; s < sequences; s++) {
                    for (String name : g.linears()) {
                        Recording r = (Recording) recorded.get(s).get(layer).linear(name);
                        assertEquals(1, r.inputs.size());
                        assertArrayEquals(r.inputs.getFirst(), seen.get(g)[s], "layer " + l + " " + name + " seq " + s);
                    }
                }
            }
        }
        // the block outputs: the final norm and lm_head over them give the model's logits
        int dim = c.dim();
        for (int s = 0; s < sequences; s++) {
            float[] normed = new float[len * dim];
            DecoderBlock.rmsnormRows(x[s], model.weights().finalNorm(), (float) c.rmsNormEps(), normed, len, dim);
            float[] got = new float[len * c.vocabSize()];
            model.weights().lmHead().forward(normed, got, len);
            assertArrayEquals(logits[s], got, "logits of sequence " + s);
        }
    }

    @Test
    void calibrationSeesWhatTheModelComputesOnStories260K() {
        LlamaCheckpoint ck = Llama2cCheckpoint.read(SharedData.stories260K());
        samePath(ck, ck, 3, 40);
    }

    @Test
    void calibrationSeesWhatTheModelComputesWithGroupedQueriesAndBiases() {
        LlamaConfig c = SyntheticModel.config(48, 96, 2, 4, 2, 300, 64);
        LlamaCheckpoint plain = SyntheticModel.create(c, 5);
        SplittableRandom r = new SplittableRandom(3);
        List<LayerWeights> layers = new ArrayList<>();
        for (LayerWeights lw : plain.weights().layers()) {
            for (String name : LinearGroup.QKV.linears()) { // Qwen2-style q/k/v biases
                DenseLinear d = (DenseLinear) lw.linear(name);
                float[] bias = new float[d.outFeatures()];
                for (int i = 0; i < bias.length; i++) {
                    bias[i] = (float) (r.nextDouble() - 0.5);
                }
                lw = lw.with(name, new DenseLinear(d.weight(), bias, d.outFeatures(), d.inFeatures()));
            }
            layers.add(lw);
        }
        LlamaCheckpoint ck = new LlamaCheckpoint(c, new LlamaWeights(plain.weights().tokenEmbedding(), layers,
                plain.weights().finalNorm(), plain.weights().lmHead()), "synthetic with biases");
        samePath(ck, ck, 2, 17);
    }

    @Test
    void weightsSwappedBetweenGroupsFeedTheGroupsAfterThem() {
        LlamaCheckpoint ck = Llama2cCheckpoint.read(SharedData.stories260K());
        List<LayerWeights> layers = new ArrayList<>();
        for (int l = 0; l < ck.config().nLayers(); l++) {
            layers.add(perturbed(ck.weights().layers().get(l), 11 + l));
        }
        LlamaCheckpoint other = new LlamaCheckpoint(ck.config(), new LlamaWeights(ck.weights().tokenEmbedding(),
                layers, ck.weights().finalNorm(), ck.weights().lmHead()), "perturbed");
        // starting from the unperturbed blocks, each group's linears are swapped just before they run
        samePath(ck, other, 2, 33);
        float[] a = LlamaModel.of(ck).forward(new int[]{1, 5, 9}, 0, 3, LlamaModel.of(ck).newCache(3), true);
        float[] b = LlamaModel.of(other).forward(new int[]{1, 5, 9}, 0, 3, LlamaModel.of(other).newCache(3), true);
        assertFalse(Arrays.equals(a, b), "the perturbation changes the model");
    }

    @Test
    void aHookThatChangesAnEarlierGroupAfterItsPassIsRefused() {
        LlamaCheckpoint ck = Llama2cCheckpoint.read(SharedData.stories260K());
        LayerWeights lw = ck.weights().layers().getFirst();
        LayerWeights other = perturbed(lw, 5);
        int len = 8;
        float[][] x = {embed(ck, tokens(ck.config(), len, 3), 0, len)};
        IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> new DecoderBlock(ck.config()).forward(lw, x, len, new ActivationHook() {
                    @Override
                    public void input(LinearGroup g, int sequence, float[] in, int rows) {
                    }

                    @Override
                    public LayerWeights weights(LinearGroup g, LayerWeights w) {
                        // q_proj's output was kept at o's pass: changing it at gate/up is too late
                        return g == LinearGroup.GATE_UP ? w.with("self_attn.q_proj", other.wq()) : w;
                    }
                }));
        assertEquals("the hook replaced self_attn.q_proj after GATE_UP's inputs: only GATE_UP's linears may change "
                + "there", e.getMessage());
    }
}
