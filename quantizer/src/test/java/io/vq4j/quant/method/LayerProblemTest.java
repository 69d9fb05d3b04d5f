package io.vq4j.quant.method;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link LayerProblem#symmetric}: bit for bit, every off-diagonal pair looked at, across its tiles. */
class LayerProblemTest {
    private static float[] symmetric(int n, SplittableRandom r) {
        float[] h = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                float v = (float) r.nextGaussian();
                h[i * n + j] = v;
                h[j * n + i] = v;
            }
        }
        return h;
    }

    @Test
    void oneDifferingPairAnywhereMakesItAsymmetric() {
        SplittableRandom r = new SplittableRandom(9);
        for (int n : new int[]{1, 2, 63, 64, 65, 150}) {
            float[] h = symmetric(n, r);
            assertTrue(LayerProblem.symmetric(h, n), "n = " + n);
            int[][] at = {{1, 0}, {n - 1, 0}, {n - 1, n - 2}, {n / 2, n / 3}, {64, 63}, {65, 1}, {0, n - 1}};
            for (int[] p : at) {
                int i = p[0], j = p[1];
                if (i >= n || j < 0 || j >= n || i == j) {
                    continue;
                }
                float old = h[i * n + j];
                h[i * n + j] = Math.nextUp(old);
                assertFalse(LayerProblem.symmetric(h, n), "n = " + n + ", (" + i + ", " + j + ") one ulp off");
                h[i * n + j] = old;
            }
            h[(n - 1) * n + (n - 1)] = 42f; // the diagonal has no partner
            assertTrue(LayerProblem.symmetric(h, n));
        }
        float[] z = {1f, 0f, -0f, 1f}; // 0 and −0 differ in their bits
        assertFalse(LayerProblem.symmetric(z, 2));
    }
}
