package io.vq4j.quant.budget;

import io.vq4j.model.DenseLinear;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.ModelLoader;
import io.vq4j.testing.SharedData;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The stacked probe on stories260K: no change is no loss, and a larger change of one layer a larger KL. */
class LlamaKlProbeTest {
    @Test
    void theUnchangedLayerCostsNothingAndNoiseCostsMoreTheLargerItIs() {
        LlamaCheckpoint ck = ModelLoader.load(SharedData.stories260K(), null).checkpoint();
        int len = 32;
        int[] tokens = new int[2 * len];
        Random r = new Random(5);
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = 1 + r.nextInt(ck.config().vocabSize() - 1);
        }
        LlamaKlProbe probe = new LlamaKlProbe(ck, tokens, 2, len);
        String name = "model.layers.2.mlp.down_proj";
        float[] w = ((DenseLinear) ck.weights().layers().get(2).linear("mlp.down_proj")).weight();
        assertEquals(0.0, probe.loss(name, w.clone()), 1e-12, "the layer's own weights");
        double prev = 0;
        for (double scale : new double[]{0.01, 0.05, 0.2}) {
            float[] noisy = w.clone();
            Random n = new Random(9);
            for (int i = 0; i < noisy.length; i++) {
                noisy[i] += (float) (scale * n.nextGaussian());
            }
            double kl = probe.loss(name, noisy);
            assertTrue(kl > prev, "noise " + scale + ": KL " + kl + " after " + prev);
            prev = kl;
        }
        // the weights of the checkpoint are untouched by the probe
        assertEquals(0.0, probe.loss(name, w.clone()), 1e-12);
    }
}
