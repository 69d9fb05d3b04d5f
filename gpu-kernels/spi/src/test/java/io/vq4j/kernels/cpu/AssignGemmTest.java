package io.vq4j.kernels.cpu;

import io.vq4j.kernels.AssignMethod;
import io.vq4j.kernels.NearTies;
import io.vq4j.kernels.assign.GemmAssign;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CPU backend's matmul form of the assignment against its exact kernel (issue 17, item 1). */
class AssignGemmTest {
    private final CpuBackend cpu = new CpuBackend();

    private static float[] gaussian(SplittableRandom r, int n, double offset) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (offset + r.nextGaussian());
        }
        return a;
    }

    private static float[] weights(SplittableRandom r, int n) {
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = i % 13 == 0 ? 0f : (float) r.nextDouble(0.01, 10);
        }
        return w;
    }

    @Test
    void indicesEqualTheExactKernelsUpToNearTiesOnRandomShapes() {
        SplittableRandom r = new SplittableRandom(11);
        int[][] shapes = {{1000, 1, 7}, {777, 2, 256}, {1025, 4, 300}, {513, 8, 1024}, {65, 16, 33}, {63, 3, 1},
                {200, 16, 4096}, {130, 5, 2049}, {4099, 4, 4096}, {300, 12, 1031}};
        int ties = 0;
        int total = 0;
        for (int[] s : shapes) {
            int n = s[0], d = s[1], k = s[2];
            float[] x = gaussian(r, n * d, 0);
            float[] cb = gaussian(r, k * d, 0);
            String what = "n=" + n + " d=" + d + " k=" + k;
            ties += NearTies.check(what, cpu, x, null, n, d, cb, k);
            ties += NearTies.check(what + " weighted", cpu, x, weights(r, n * d), n, d, cb, k);
            total += 2 * n;
        }
        // on Gaussian data a near-tie is rare: a few in ten thousand at most
        assertTrue(ties * 1000 < total, ties + " near-ties in " + total + " vectors");
    }

    @Test
    void cancellationMakesNearTiesButNeverAWrongIndex() {
        // vectors and centroids far from the origin: ‖c‖² − 2x·c cancels about 12 of 24 bits, so
        // the matmul form misses the exact nearest often, always within the stated allowance
        SplittableRandom r = new SplittableRandom(12);
        int n = 3000, d = 8, k = 512;
        float[] x = gaussian(r, n * d, 2000);
        float[] cb = gaussian(r, k * d, 2000);
        int plain = NearTies.check("offset 2000", cpu, x, null, n, d, cb, k);
        int weighted = NearTies.check("offset 2000 weighted", cpu, x, weights(r, n * d), n, d, cb, k);
        assertTrue(plain > 0 && weighted > 0, "the rounding of the matmul form shows here: " + plain + ", " + weighted);
    }

    @Test
    void theNearTieCheckFailsOnAnIndexThatIsNotATie() {
        SplittableRandom r = new SplittableRandom(13);
        int n = 50, d = 4, k = 64;
        float[] x = gaussian(r, n * d, 0);
        float[] cb = gaussian(r, k * d, 0);
        int[] idx = new int[n];
        cpu.assignNearest(x, null, n, d, cb, k, idx, new float[n]);
        int[] wrong = idx.clone();
        // the farthest centroid from vector 7: never within rounding of the nearest
        int far = 0;
        for (int c = 1; c < k; c++) {
            if (GemmAssign.distance(x, null, 7, d, cb, c) > GemmAssign.distance(x, null, 7, d, cb, far)) {
                far = c;
            }
        }
        wrong[7] = far;
        assertEquals(0, NearTies.count("same", x, null, n, d, cb, idx, idx.clone()));
        AssertionError e = assertThrows(AssertionError.class, () -> NearTies.count("wrong", x, null, n, d, cb, idx,
                wrong));
        assertTrue(e.getMessage().contains("vector 7"), e.getMessage());
    }

    @Test
    void exactTiesGoToTheLowestIndexAcrossTiles() {
        SplittableRandom r = new SplittableRandom(14);
        int d = 4, k = 65536;
        float[] cb = gaussian(r, k * d, 0);
        // duplicates across CPU tiles (1024) and GPU tiles (4096): 5 == 1500 == 4100 == 65535, 17 == 18
        for (int c : new int[]{1500, 4100, 65535}) {
            System.arraycopy(cb, 5 * d, cb, c * d, d);
        }
        System.arraycopy(cb, 17 * d, cb, 18 * d, d);
        int n = 70;
        float[] x = gaussian(r, n * d, 0);
        System.arraycopy(cb, 5 * d, x, 0, d);
        System.arraycopy(cb, 18 * d, x, d, d);
        int[] idx = new int[n];
        float[] dist = new float[n];
        cpu.assignNearestGemm(x, null, n, d, cb, k, idx, dist);
        assertEquals(5, idx[0]);
        assertEquals(17, idx[1]);
        assertEquals(0f, dist[0]);
        GemmAssign.viaGemm(cpu::gemm, x, null, n, d, cb, k, idx, dist);
        assertEquals(5, idx[0]);
        assertEquals(17, idx[1]);
        NearTies.check("k=65536", cpu, x, null, n, d, cb, k);
    }

    @Test
    void theSameInputsGiveTheSameIndicesEveryRunAndTheDefaultPathKeepsParity() {
        SplittableRandom r = new SplittableRandom(15);
        int n = 5000, d = 8, k = 5000;
        float[] x = gaussian(r, n * d, 0.5);
        float[] w = weights(r, n * d);
        float[] cb = gaussian(r, k * d, 0.5);
        for (float[] wt : new float[][]{null, w}) {
            int[] a = new int[n];
            int[] b = new int[n];
            float[] da = new float[n];
            float[] db = new float[n];
            cpu.assignNearestGemm(x, wt, n, d, cb, k, a, da);
            cpu.assignNearestGemm(x, wt, n, d, cb, k, b, db);
            assertArrayEquals(a, b);
            assertArrayEquals(da, db);
            // the SPI's default (any backend's array gemm, host scan): also exact up to near-ties
            int[] exact = new int[n];
            cpu.assignNearest(x, wt, n, d, cb, k, exact, new float[n]);
            int[] via = new int[n];
            float[] dv = new float[n];
            GemmAssign.viaGemm(cpu::gemm, x, wt, n, d, cb, k, via, dv);
            NearTies.count("default path", x, wt, n, d, cb, exact, via);
            for (int i = 0; i < n; i++) {
                assertEquals(GemmAssign.distance(x, wt, i, d, cb, via[i]), dv[i]);
            }
        }
    }

    @Test
    void theMethodArgumentChoosesTheForm() {
        // at an offset of 2000 the two forms differ on some vectors (near-ties): each method gives its own
        SplittableRandom r = new SplittableRandom(17);
        int n = 2000, d = 8, k = 256;
        float[] x = gaussian(r, n * d, 2000);
        float[] cb = gaussian(r, k * d, 2000);
        int[] exact = new int[n];
        int[] gemm = new int[n];
        cpu.assignNearest(x, null, n, d, cb, k, exact, new float[n]);
        cpu.assignNearestGemm(x, null, n, d, cb, k, gemm, new float[n]);
        assertTrue(!Arrays.equals(exact, gemm), "the forms differ here");
        int[] viaMethod = new int[n];
        cpu.assignNearest(AssignMethod.EXACT, x, null, n, d, cb, k, viaMethod, new float[n]);
        assertArrayEquals(exact, viaMethod);
        cpu.assignNearest(AssignMethod.GEMM, x, null, n, d, cb, k, viaMethod, new float[n]);
        assertArrayEquals(gemm, viaMethod);
    }

    @Test
    void nanAndInfiniteVectorsGoToCentroidZeroAtInfinityAsTheExactKernel() {
        SplittableRandom r = new SplittableRandom(16);
        int n = 9, d = 3, k = 40;
        float[] x = gaussian(r, n * d, 0);
        float[] cb = gaussian(r, k * d, 0);
        x[4 * d + 1] = Float.NaN;
        x[6 * d] = Float.POSITIVE_INFINITY;
        int[] i1 = new int[n];
        int[] i2 = new int[n];
        float[] d1 = new float[n];
        float[] d2 = new float[n];
        cpu.assignNearest(x, null, n, d, cb, k, i1, d1);
        cpu.assignNearestGemm(x, null, n, d, cb, k, i2, d2);
        for (int i : new int[]{4, 6}) {
            assertEquals(i1[i], i2[i], "vector " + i);
            assertEquals(0, i2[i]);
            assertEquals(Float.POSITIVE_INFINITY, d2[i]);
            assertEquals(d1[i], d2[i]);
        }
    }
}
