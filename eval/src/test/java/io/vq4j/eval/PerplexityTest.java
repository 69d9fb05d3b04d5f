package io.vq4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vq4j.core.InputException;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.SyntheticModel;
import org.junit.jupiter.api.Test;

class PerplexityTest {
    @Test
    void negLogSoftmaxMatchesHandValue() {
        float[] logits = {1f, 2f, 3f};
        double lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
        assertEquals(lse - 2, Perplexity.negLogSoftmax(logits, 0, 3, 1), 1e-12);
    }

    @Test
    void windowsAreCutWithoutOverlapAndScoredFromTheirSecondToken() {
        LlamaModel m = LlamaModel.of(SyntheticModel.create(SyntheticModel.config(16, 32, 2, 4, 2, 20, 64), 3));
        int[] ids = {1, 5, 9, 2, 7, 7, 3, 11, 19, 4, 0};
        Perplexity.Result r = Perplexity.evaluate(m, ids, 4, null);
        assertEquals(3, r.windows().size());
        assertEquals(3 + 3 + 2, r.nPredictions());
        double sum = 0;
        for (int start = 0; start < ids.length; start += 4) {
            int len = Math.min(4, ids.length - start);
            float[] logits = m.forward(ids, start, len, m.newCache(len), true); // each window from position 0
            for (int t = 0; t + 1 < len; t++) {
                sum += Perplexity.negLogSoftmax(logits, t * 20, 20, ids[start + t + 1]);
            }
        }
        assertEquals(sum / 8, r.meanNll(), 1e-12);
        assertEquals(Math.exp(sum / 8), r.ppl(), 1e-9);
    }

    @Test
    void tooFewTokensAndTooShortContextAreInputErrors() {
        LlamaModel m = LlamaModel.of(SyntheticModel.create(SyntheticModel.config(16, 32, 1, 4, 2, 20, 64), 3));
        assertThrows(InputException.class, () -> Perplexity.evaluate(m, new int[] {1}, 8, null));
        assertThrows(InputException.class, () -> Perplexity.evaluate(m, new int[] {1, 2, 3}, 1, null));
    }
}
