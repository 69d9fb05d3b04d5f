package io.vq4j.quant.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vq4j.kernels.cpu.CpuBackend;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class KMeansTest {
    private final CpuBackend cpu = new CpuBackend();

    @Test
    void oneDimensionalClustersReachTheirMeans() {
        float[] x = {0, 1, 10, 11, 12};
        KMeans.Result r = KMeans.fit(cpu, x, null, 5, 1, 2, 50, 0, 3);
        float[] c = r.codebook().clone();
        Arrays.sort(c);
        assertArrayEquals(new float[] {0.5f, 11f}, c);
        // optimum: 0.25 + 0.25 + 1 + 0 + 1
        assertEquals(2.5, r.objective(), 1e-6);
    }

    @Test
    void weightsPullEachCentroidToTheWeightedMeanPerDimension() {
        // two groups in 2-D; within the first group the weights differ per dimension
        float[] x = {0, 0, 1, 2, 100, 100, 101, 100};
        float[] w = {1, 1, 3, 1, 1, 1, 1, 1};
        KMeans.Result r = KMeans.fit(cpu, x, w, 4, 2, 2, 50, 0, 1);
        int first = r.index()[0];
        assertEquals(first, r.index()[1]);
        assertEquals(0.75f, r.codebook()[first * 2], 1e-6);     // (0·1 + 1·3) / 4
        assertEquals(1.0f, r.codebook()[first * 2 + 1], 1e-6);  // (0·1 + 2·1) / 2
        int second = r.index()[2];
        assertEquals(100.5f, r.codebook()[second * 2], 1e-6);
    }

    @Test
    void separatedGaussianBlobsAreRecoveredAndRunsRepeat() {
        SplittableRandom g = new SplittableRandom(9);
        int per = 300, k = 4, d = 3;
        float[][] centres = {{0, 0, 0}, {10, 0, 0}, {0, 10, 0}, {0, 0, 10}};
        float[] x = new float[per * k * d];
        for (int c = 0; c < k; c++) {
            for (int i = 0; i < per; i++) {
                for (int j = 0; j < d; j++) {
                    x[(c * per + i) * d + j] = centres[c][j] + (float) (0.3 * g.nextGaussian());
                }
            }
        }
        KMeans.Result a = KMeans.fit(cpu, x, null, per * k, d, k, 100, 1e-9, 5);
        KMeans.Result b = KMeans.fit(cpu, x, null, per * k, d, k, 100, 1e-9, 5);
        assertArrayEquals(a.codebook(), b.codebook());
        assertArrayEquals(a.index(), b.index());
        for (int c = 0; c < k; c++) { // every blob is one cluster
            int label = a.index()[c * per];
            for (int i = 0; i < per; i++) {
                assertEquals(label, a.index()[c * per + i]);
            }
            for (int j = 0; j < d; j++) {
                assertEquals(centres[c][j], a.codebook()[label * d + j], 0.1);
            }
        }
    }

    @Test
    void kBeyondTheNumberOfVectorsIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> KMeans.fit(cpu, new float[] {1, 2}, null, 2, 1, 3, 5, 0, 1));
    }

    @Test
    void duplicatePointsDoNotBreakSeeding() {
        float[] x = {5, 5, 5, 5};
        KMeans.Result r = KMeans.fit(cpu, x, null, 4, 1, 3, 10, 0, 1);
        assertEquals(0, r.objective());
    }
}
