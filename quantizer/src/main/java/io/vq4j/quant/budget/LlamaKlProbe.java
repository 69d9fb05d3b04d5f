package io.vq4j.quant.budget;

import io.vq4j.kernels.cpu.ForwardKernels;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.KvCache;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.Linear;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.LlamaWeights;
import io.vq4j.quant.SourceModel;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@link StackedProbe} of a causal LM: the mean KL divergence KL(p_fp ‖ p_q) of the next-token
 * distributions over calibration sequences, the model with one linear replaced against the
 * unquantized model (whose logits are computed once).
 */
public final class LlamaKlProbe implements StackedProbe {
    private final LlamaCheckpoint fp;
    private final int[] tokens;
    private final int sequences;
    private final int len;
    private final float[][] reference;

    /** @param tokens {@code sequences} calibration sequences of {@code len} tokens, back to back */
    public LlamaKlProbe(LlamaCheckpoint fp, int[] tokens, int sequences, int len) {
        this.fp = fp;
        this.tokens = tokens;
        this.sequences = sequences;
        this.len = len;
        LlamaModel m = LlamaModel.of(fp);
        this.reference = new float[sequences][];
        KvCache cache = m.newCache(len);
        for (int s = 0; s < sequences; s++) {
            cache.clear();
            reference[s] = m.forward(tokens, s * len, len, cache, true);
        }
    }

    /** What the loss measures, for the plan's record. */
    public String description() {
        return String.format(Locale.ROOT, "stacked: mean KL(fp || q) of the next-token distributions on %d calibration"
                + " sequences x %d tokens, the model with only this layer quantized", sequences, len);
    }

    @Override
    public double loss(String name, float[] weights) {
        LlamaWeights w = fp.weights();
        List<LayerWeights> layers = new ArrayList<>(w.layers());
        int block = -1;
        String linear = null;
        for (int b = 0; b < layers.size() && block < 0; b++) {
            if (name.startsWith(SourceModel.prefix(b))) {
                block = b;
                linear = name.substring(SourceModel.prefix(b).length());
            }
        }
        if (block < 0) {
            throw new IllegalArgumentException("not a decoder layer: " + name);
        }
        Linear old = layers.get(block).linear(linear);
        float[] bias = old instanceof DenseLinear d ? d.bias() : null;
        layers.set(block, layers.get(block).with(linear, new DenseLinear(weights, bias, old.outFeatures(),
                old.inFeatures())));
        LlamaModel m = new LlamaModel(fp.config(), new LlamaWeights(w.tokenEmbedding(), layers, w.finalNorm(),
                w.lmHead()));
        int vocab = fp.config().vocabSize();
        KvCache cache = m.newCache(len);
        double sum = 0;
        long n = 0;
        for (int s = 0; s < sequences; s++) {
            cache.clear();
            float[] q = m.forward(tokens, s * len, len, cache, true);
            for (int t = 0; t < len; t++) {
                sum += kl(reference[s], q, t * vocab, vocab);
                n++;
            }
        }
        return sum / n;
    }

    /** KL(p ‖ q) of two rows of logits, in double. */
    static double kl(float[] p, float[] q, int from, int n) {
        return ForwardKernels.kl(p, q, from, n);
    }
}
