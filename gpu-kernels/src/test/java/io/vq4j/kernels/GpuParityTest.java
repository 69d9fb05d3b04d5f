package io.vq4j.kernels;

import io.vq4j.kernels.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Every kernel of a GPU backend against the CPU backend, on random and adversarial inputs:
 * ties, k = 1, d = 1 and 16, n not a multiple of the work-group size, k = 65,536. Each backend's
 * test opens its device (or skips, saying why) in {@link #open()}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class GpuParityTest {
    protected Backend gpu;
    protected final Backend cpu = new CpuBackend();

    /** The backend under test; skips (an assumption) when its device is absent and not required. */
    protected abstract Backend open();

    @BeforeAll
    void openDevice() {
        gpu = open();
    }

    @AfterAll
    void closeDevice() {
        if (gpu != null) {
            gpu.close();
        }
    }

    static float[] gaussian(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    void assertAssignmentMatches(float[] x, float[] w, int n, int d, float[] cb, int k) {
        int[] i1 = new int[n];
        int[] i2 = new int[n];
        float[] d1 = new float[n];
        float[] d2 = new float[n];
        cpu.assignNearest(x, w, n, d, cb, k, i1, d1);
        gpu.assignNearest(x, w, n, d, cb, k, i2, d2);
        assertArrayEquals(i1, i2, "indices, n=" + n + " d=" + d + " k=" + k);
        assertArrayEquals(d1, d2, "distances, bit for bit");
    }

    @Test
    void assignmentMatchesTheCpuOnRandomShapes() {
        SplittableRandom r = new SplittableRandom(1);
        int[][] shapes = {{1000, 1, 7}, {777, 2, 256}, {1025, 4, 300}, {513, 8, 1024}, {65, 16, 33}, {63, 3, 1},
                {200, 16, 4096}};
        for (int[] s : shapes) {
            int n = s[0];
            int d = s[1];
            int k = s[2];
            float[] x = gaussian(r, n * d);
            float[] cb = gaussian(r, k * d);
            assertAssignmentMatches(x, null, n, d, cb, k);
            float[] w = new float[n * d];
            for (int i = 0; i < w.length; i++) {
                w[i] = i % 11 == 0 ? 0f : (float) r.nextDouble(0.01, 10); // zero weights included
            }
            assertAssignmentMatches(x, w, n, d, cb, k);
        }
    }

    @Test
    void tiesGoToTheLowestIndexAndSixtyFiveThousandCentroidsWork() {
        SplittableRandom r = new SplittableRandom(2);
        int d = 4;
        int k = 65536;
        float[] cb = gaussian(r, k * d);
        // duplicate centroids across tile boundaries: 5 == 300 == 65535, 17 == 18
        System.arraycopy(cb, 5 * d, cb, 300 * d, d);
        System.arraycopy(cb, 5 * d, cb, 65535 * d, d);
        System.arraycopy(cb, 17 * d, cb, 18 * d, d);
        int n = 130;
        float[] x = gaussian(r, n * d);
        System.arraycopy(cb, 5 * d, x, 0, d);   // exactly on the tied centroids
        System.arraycopy(cb, 18 * d, x, d, d);
        assertAssignmentMatches(x, null, n, d, cb, k);
        int[] idx = new int[n];
        float[] dist = new float[n];
        gpu.assignNearest(x, null, n, d, cb, k, idx, dist);
        assertEquals(5, idx[0]);
        assertEquals(17, idx[1]);
        assertEquals(0f, dist[0]);
    }

    @Test
    void centroidSumsMatchTheCpuBitForBit() {
        SplittableRandom r = new SplittableRandom(3);
        int[][] shapes = {{10000, 4, 256}, {4096, 1, 2}, {4097, 16, 5}, {9000, 8, 65536}, {1, 3, 1}};
        for (int[] s : shapes) {
            int n = s[0];
            int d = s[1];
            int k = s[2];
            float[] x = gaussian(r, n * d);
            float[] w = new float[n * d];
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) r.nextDouble(0, 3);
            }
            int[] idx = new int[n];
            for (int i = 0; i < n; i++) {
                idx[i] = r.nextInt(Math.min(k, 97)) * (k / Math.min(k, 97)); // some centroids empty
            }
            for (float[] weights : new float[][]{null, w}) {
                double[] s1 = new double[k * d];
                double[] w1 = new double[k * d];
                double[] s2 = new double[k * d];
                double[] w2 = new double[k * d];
                java.util.Arrays.fill(s2, Double.NaN); // overwritten, not added to
                cpu.accumulateCentroids(x, weights, n, d, idx, k, s1, w1);
                gpu.accumulateCentroids(x, weights, n, d, idx, k, s2, w2);
                assertArrayEquals(s1, s2, "sums n=" + n + " d=" + d + " k=" + k);
                assertArrayEquals(w1, w2, "weight sums");
            }
        }
    }

    @Test
    void gemmMatchesTheCpuInEveryTransposition() {
        SplittableRandom r = new SplittableRandom(4);
        int m = 37;
        int n = 29;
        int k = 53;
        for (boolean ta : new boolean[]{false, true}) {
            for (boolean tb : new boolean[]{false, true}) {
                float[] a = gaussian(r, m * k);
                float[] b = gaussian(r, k * n);
                float[] c0 = gaussian(r, m * n);
                for (float beta : new float[]{0f, 0.5f}) {
                    float[] c1 = c0.clone();
                    float[] c2 = c0.clone();
                    if (beta == 0f) {
                        java.util.Arrays.fill(c2, Float.NaN); // ignored when beta = 0
                    }
                    cpu.gemm(ta, tb, m, n, k, 1.5f, a, b, beta, c1);
                    gpu.gemm(ta, tb, m, n, k, 1.5f, a, b, beta, c2);
                    for (int i = 0; i < m * n; i++) {
                        assertEquals(c1[i], c2[i], 1e-4f * (1 + Math.abs(c1[i])), "ta=" + ta + " tb=" + tb + " at " + i);
                    }
                }
            }
        }
    }

}
