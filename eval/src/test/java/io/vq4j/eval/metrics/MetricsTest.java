package io.vq4j.eval.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.SyntheticModel;
import org.junit.jupiter.api.Test;

import java.util.List;

/** Every metric against values worked out by hand. */
class MetricsTest {
    @Test
    void mseAndSqnr() {
        assertEquals(4.0 / 3, LayerMetrics.mse(new float[]{1, 2, 3}, new float[]{1, 2, 5}), 1e-15);
        // signal 3² + 4² = 25, noise 1: 10·log10(25) dB
        assertEquals(10 * Math.log10(25), LayerMetrics.sqnrDb(new float[]{3, 4}, new float[]{3, 3}), 1e-12);
        assertEquals(13.979400086720377, LayerMetrics.sqnrDb(new float[]{3, 4}, new float[]{3, 3}), 1e-12);
        assertEquals(Double.POSITIVE_INFINITY, LayerMetrics.sqnrDb(new float[]{3, 4}, new float[]{3, 4}));
        assertThrows(IllegalArgumentException.class, () -> LayerMetrics.mse(new float[]{1}, new float[]{1, 2}));
    }

    @Test
    void hessianErrorIsTheTraceOfEHEt() {
        // one row, e = (1, 2), H = [[2, 1], [1, 3]]: eHeᵀ = 1·(2 + 2) + 2·(1 + 6) = 18
        assertEquals(18, LayerMetrics.hessianError(new float[]{1, 2}, new float[]{0, 0}, 1, 2,
                new double[]{2, 1, 1, 3}), 1e-12);
        // two rows add: e₂ = (0, −1) adds 3
        assertEquals(21, LayerMetrics.hessianError(new float[]{1, 2, 5, 4}, new float[]{0, 0, 5, 5}, 2, 2,
                new double[]{2, 1, 1, 3}), 1e-12);
    }

    @Test
    void outputFidelity() {
        // W = I, Ŵ = diag(1, 0), x = (1, 1): y = (1, 1), ŷ = (1, 0)
        LayerMetrics.Fidelity f = LayerMetrics.outputFidelity(new float[]{1, 0, 0, 1}, new float[]{1, 0, 0, 0}, 2, 2,
                new float[]{1, 1}, 1);
        assertEquals(1 / Math.sqrt(2), f.cosine(), 1e-15);
        assertEquals(1 / Math.sqrt(2), f.relError(), 1e-15);
        // a second input row x = (2, 0) adds y = (2, 0) = ŷ: cos = 5 / (√6 · √5), rel = 1 / √6
        f = LayerMetrics.outputFidelity(new float[]{1, 0, 0, 1}, new float[]{1, 0, 0, 0}, 2, 2,
                new float[]{1, 1, 2, 0}, 2);
        assertEquals(5 / Math.sqrt(30), f.cosine(), 1e-15);
        assertEquals(1 / Math.sqrt(6), f.relError(), 1e-15);
        float[] x = LayerMetrics.gaussianInputs(3, 2, 7);
        assertEquals(new LayerMetrics.Fidelity(1, 0), LayerMetrics.outputFidelity(new float[]{1, 2, 3, 4},
                new float[]{1, 2, 3, 4}, 2, 2, x, 3));
    }

    @Test
    void klAndArgmax() {
        // p uniform over 2, q = (3/4, 1/4): KL = ½ ln(2/3) + ½ ln 2 = ½ ln(4/3)
        float[] p = {0, 0};
        float[] q = {(float) Math.log(3), 0};
        assertEquals(0.5 * Math.log(4.0 / 3), ModelMetrics.kl(p, q, 0, 2), 1e-7);
        assertEquals(0, ModelMetrics.kl(q, q, 0, 2), 1e-15);
        // shifting all logits changes nothing
        assertEquals(ModelMetrics.kl(p, q, 0, 2), ModelMetrics.kl(new float[]{5, 5}, q, 0, 2), 1e-12);
        assertEquals(0, ModelMetrics.argmax(new float[]{1, 3, 3}, 1, 2)); // ties: the lowest
        assertEquals(0, ModelMetrics.argmax(new float[]{9, 1, 3}, 0, 3));
        assertEquals(1, ModelMetrics.argmax(new float[]{9, 1, 3}, 1, 2)); // relative to from
    }

    @Test
    void aModelAgainstItselfAndAgainstAnother() {
        LlamaModel a = LlamaModel.of(SyntheticModel.create(SyntheticModel.config(16, 32, 2, 4, 2, 20, 64), 3));
        LlamaModel b = LlamaModel.of(SyntheticModel.create(SyntheticModel.config(16, 32, 2, 4, 2, 20, 64), 4));
        int[] ids = {1, 5, 9, 2, 7, 7, 3, 11, 19, 4, 0};
        ModelMetrics.Result same = ModelMetrics.compare(a, a, ids, 4);
        assertEquals(0, same.meanKl(), 1e-12);
        assertEquals(1, same.top1Agreement());
        assertEquals(3 + 3 + 2, same.positions()); // the windows of Perplexity: 4 + 4 + 3 tokens
        ModelMetrics.Result other = ModelMetrics.compare(a, b, ids, 4);
        assertTrue(other.meanKl() > 1e-4, "KL between different models " + other.meanKl());
        // by hand: the mean of per-position KLs over the same windows
        double kl = 0;
        for (int start = 0; start < ids.length; start += 4) {
            int len = Math.min(4, ids.length - start);
            float[] p = a.forward(ids, start, len, a.newCache(len), true);
            float[] q = b.forward(ids, start, len, b.newCache(len), true);
            for (int t = 0; t + 1 < len; t++) {
                kl += ModelMetrics.kl(p, q, t * 20, 20);
            }
        }
        assertEquals(kl / 8, other.meanKl(), 1e-12);
        // the perplexities of both models are exactly Perplexity's (same windows, same sums)
        assertEquals(io.vq4j.eval.Perplexity.evaluate(a, ids, 4, null).meanNll(), other.referenceNll());
        assertEquals(io.vq4j.eval.Perplexity.evaluate(b, ids, 4, null).meanNll(), other.quantizedNll());
        assertEquals(io.vq4j.eval.Perplexity.evaluate(b, ids, 4, null).ppl(), other.quantizedPpl());
        assertThrows(InputException.class, () -> ModelMetrics.compare(a, b, new int[]{1}, 4));
    }

    @Test
    void aReferenceComputedOnceGivesTheSameNumbersBitForBit() {
        LlamaModel a = LlamaModel.of(SyntheticModel.create(SyntheticModel.config(16, 32, 2, 4, 2, 20, 64), 3));
        LlamaModel b = LlamaModel.of(SyntheticModel.create(SyntheticModel.config(16, 32, 2, 4, 2, 20, 64), 4));
        LlamaModel c = LlamaModel.of(SyntheticModel.create(SyntheticModel.config(16, 32, 2, 4, 2, 20, 64), 5));
        int[] ids = {1, 5, 9, 2, 7, 7, 3, 11, 19, 4, 0, 13, 8};
        assertEquals(13L * 20 * Float.BYTES, ModelMetrics.referenceBytes(a, ids.length));
        ModelMetrics.Reference fp = ModelMetrics.reference(a, ids, 4);
        for (LlamaModel q : List.of(b, c, a, b)) { // the kept logits are not changed by a comparison
            ModelMetrics.Result once = ModelMetrics.compare(fp, q);
            ModelMetrics.Result both = ModelMetrics.compare(a, q, ids, 4);
            assertEquals(both, once); // a record of doubles and a long: exact equality
        }
        assertTrue(ModelMetrics.compare(fp, b).meanKl() > 1e-4);
        LlamaModel other = LlamaModel.of(SyntheticModel.create(SyntheticModel.config(16, 32, 2, 4, 2, 24, 64), 3));
        assertThrows(InputException.class, () -> ModelMetrics.compare(fp, other));
        assertThrows(InputException.class, () -> ModelMetrics.reference(a, new int[]{1}, 4));
    }
}
