package io.vq4j.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.junit.jupiter.api.Test;

class SamplerTest {
    @Test
    void temperatureZeroIsArgmax() {
        Sampler s = new Sampler(0, 0.9, 1);
        assertEquals(2, s.next(new float[] {0.1f, -3f, 5f, 4.9f}, 0, 4));
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        double[] p = {0.1, 0.5, 0.3, 0.1};
        // sorted: 1 (0.5), 2 (0.3), 0 (0.1), 3 (0.1); p=0.8 keeps {1, 2} exactly, mass 0.8
        assertEquals(1, Sampler.pick(p, 0.8, 0.0));
        assertEquals(1, Sampler.pick(p, 0.8, 0.62)); // 0.62 * 0.8 = 0.496 < 0.5
        assertEquals(2, Sampler.pick(p, 0.8, 0.63)); // 0.504 >= 0.5
        assertEquals(2, Sampler.pick(p, 0.8, 0.999));
        // p=0.85 needs the third token; ties (0 and 3) go to the lower id first
        assertEquals(0, Sampler.pick(p, 0.85, 0.99));
        // p=1 can reach the last token
        assertEquals(3, Sampler.pick(p, 1.0, 0.999));
    }

    @Test
    void probabilitiesFollowTemperature() {
        double[] p = Sampler.probabilities(new float[] {0f, (float) Math.log(3)}, 0, 2, 1.0);
        assertEquals(0.25, p[0], 1e-7);
        assertEquals(0.75, p[1], 1e-7);
        double[] hot = Sampler.probabilities(new float[] {0f, (float) Math.log(3)}, 0, 2, 2.0);
        assertEquals(1 / (1 + Math.sqrt(3)), hot[0], 1e-7);
    }

    @Test
    void sameSeedSameTokensDifferentSeedDifferentTokens() {
        float[] logits = new float[50];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) Math.sin(i);
        }
        int[] a = draw(new Sampler(1.0, 1.0, 9), logits);
        int[] b = draw(new Sampler(1.0, 1.0, 9), logits);
        int[] c = draw(new Sampler(1.0, 1.0, 10), logits);
        assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(b));
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(c));
    }

    private static int[] draw(Sampler s, float[] logits) {
        int[] out = new int[40];
        for (int i = 0; i < out.length; i++) {
            out[i] = s.next(logits, 0, logits.length);
        }
        return out;
    }
}
