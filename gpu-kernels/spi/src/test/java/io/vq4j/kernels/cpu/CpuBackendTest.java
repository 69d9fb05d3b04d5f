package io.vq4j.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CpuBackendTest {
    private final CpuBackend cpu = new CpuBackend();

    private static float[] random(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    @Test
    void gemmMatchesDoubleReferenceForEveryTransposeAndScale() {
        SplittableRandom r = new SplittableRandom(1);
        int m = 13, n = 21, k = 37;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                float[] a = random(r, m * k);
                float[] b = random(r, k * n);
                float[] c = random(r, m * n);
                float[] c0 = c.clone();
                cpu.gemm(ta, tb, m, n, k, 0.5f, a, b, 2f, c);
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double s = 0;
                        for (int p = 0; p < k; p++) {
                            double av = ta ? a[p * m + i] : a[i * k + p];
                            double bv = tb ? b[j * k + p] : b[p * n + j];
                            s += av * bv;
                        }
                        assertEquals(0.5 * s + 2 * c0[i * n + j], c[i * n + j], 1e-4, "ta=" + ta + " tb=" + tb);
                    }
                }
            }
        }
    }

    /**
     * The packed gemm's tallest kernel, 8 rows (AVX-512's default) or 5 (AVX2's): the same bits, each
     * output one FMA chain over k in order, on shapes that leave rows for the 4- and 1-row kernels,
     * an odd panel and several k slices; both near the double reference.
     */
    @Test
    void theTallKernelsOfEightAndFiveRowsGiveTheSameBits() {
        SplittableRandom r = new SplittableRandom(7);
        int[][] shapes = {{75, 53, 600}, {131, 40, 300}, {13, 17, 9}};
        for (int[] sh : shapes) {
            int m = sh[0], n = sh[1], k = sh[2];
            float[] a = random(r, m * k);
            float[] b = random(r, n * k);
            float[] c = random(r, m * n);
            float[][] got = new float[2][];
            double[][] quad = new double[2][];
            float[] h = symmetric(r, k);
            int old = PackedMatmul.tall(8);
            try {
                for (int t = 0; t < 2; t++) {
                    PackedMatmul.tall(t == 0 ? 8 : 5);
                    got[t] = c.clone();
                    cpu.gemm(false, true, m, n, k, 0.5f, a, b, 2f, got[t]);
                    quad[t] = cpu.quadraticForms(h, k, m, a);
                }
            } finally {
                PackedMatmul.tall(old);
            }
            assertArrayEquals(got[0], got[1], m + "x" + n + "x" + k);
            assertArrayEquals(quad[0], quad[1], "quadraticForms " + m + "x" + k);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double sum = 0;
                    for (int q = 0; q < k; q++) {
                        sum += (double) a[i * k + q] * b[j * k + q];
                    }
                    assertEquals(0.5 * sum + 2 * c[i * n + j], got[1][i * n + j], 1e-3, m + "x" + n + "x" + k);
                }
            }
        }
    }

    /** A symmetric n×n H with a dominant diagonal (so that a diagonal counted twice or not halved shows). */
    static float[] symmetric(SplittableRandom r, int n) {
        float[] h = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                float v = (float) r.nextGaussian() + (i == j ? n : 0);
                h[i * n + j] = v;
                h[j * n + i] = v;
            }
        }
        return h;
    }

    /** {exact tr(A H Aᵀ), tr(|A| |H| |A|ᵀ)} in double. */
    static double[] exactQuadratic(float[] a, float[] h, int rows, int n) {
        double q = 0, m = 0;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < n; i++) {
                double s = 0, t = 0;
                for (int j = 0; j < n; j++) {
                    s += (double) h[i * n + j] * a[r * n + j];
                    t += Math.abs((double) h[i * n + j] * a[r * n + j]);
                }
                q += a[r * n + i] * s;
                m += Math.abs((double) a[r * n + i]) * t;
            }
        }
        return new double[] {q, m};
    }

    /**
     * The SPI's bound for quadraticForms: the CPU's half-product form (H's upper triangle, diagonal
     * halved, k stopping at each pair's last column) within (n + 2)·2⁻²⁴·tr(|A||H||A|ᵀ) of the exact
     * value, over shapes with ragged panels, several k slices (n > 256), several row blocks and the
     * parallel path; the same bits on a second call.
     */
    @Test
    void quadraticFormsAreWithinTheirBoundOfTheExactValue() {
        SplittableRandom r = new SplittableRandom(21);
        int[][] shapes = {{1, 1}, {5, 17}, {37, 70}, {130, 33}, {200, 300}};
        for (int[] sh : shapes) {
            int rows = sh[0], n = sh[1];
            float[] h = symmetric(r, n);
            float[] a = random(r, rows * n);
            float[] b = random(r, rows * n);
            double[] got = cpu.quadraticForms(h, n, rows, a, b);
            assertEquals(2, got.length);
            int i = 0;
            for (float[] x : new float[][] {a, b}) {
                double[] e = exactQuadratic(x, h, rows, n);
                double bound = (n + 2) * Math.scalb(1.0, -24) * e[1];
                assertTrue(Math.abs(got[i] - e[0]) <= bound, rows + "x" + n + ": " + got[i] + " vs exact " + e[0]
                        + ", bound " + bound);
                i++;
            }
            assertArrayEquals(got, cpu.quadraticForms(h, n, rows, a, b), rows + "x" + n + ": the same bits again");
        }
        assertEquals(0, cpu.quadraticForms(new float[0], 0, 3).length);
    }

    @Test
    void gemmWithBetaZeroIgnoresNanInC() {
        float[] c = {Float.NaN};
        cpu.gemm(false, false, 1, 1, 1, 1f, new float[] {2}, new float[] {3}, 0f, c);
        assertEquals(6f, c[0]);
    }

    /** Brute force in double: index of the least weighted distance, lowest index on ties. */
    private static int nearest(float[] x, float[] w, int i, int d, float[] cb, int k, double[] bestOut) {
        int best = 0;
        double bd = Double.POSITIVE_INFINITY;
        for (int c = 0; c < k; c++) {
            double s = 0;
            for (int j = 0; j < d; j++) {
                double diff = cb[c * d + j] - x[i * d + j];
                s += (w == null ? 1 : w[i * d + j]) * diff * diff;
            }
            if (s < bd) {
                bd = s;
                best = c;
            }
        }
        bestOut[0] = bd;
        return best;
    }

    @Test
    void assignNearestAgreesWithBruteForceOnRandomShapes() {
        SplittableRandom r = new SplittableRandom(2);
        int[][] shapes = {{1, 1, 1}, {50, 1, 7}, {33, 16, 1}, {200, 8, 256}, {97, 4, 4096}, {40, 3, 17}, {65, 16, 300}};
        for (int[] s : shapes) {
            for (boolean weighted : new boolean[] {false, true}) {
                int n = s[0], d = s[1], k = s[2];
                float[] x = random(r, n * d);
                float[] cb = random(r, k * d);
                float[] w = null;
                if (weighted) {
                    w = new float[n * d];
                    for (int i = 0; i < w.length; i++) {
                        w[i] = (float) (0.1 + r.nextDouble() * 3);
                    }
                }
                int[] idx = new int[n];
                float[] dist = new float[n];
                cpu.assignNearest(x, w, n, d, cb, k, idx, dist);
                double[] bd = new double[1];
                for (int i = 0; i < n; i++) {
                    int expected = nearest(x, w, i, d, cb, k, bd);
                    assertEquals(bd[0], dist[i], 1e-4 * Math.max(1, bd[0]), "distance " + i);
                    if (idx[i] != expected) { // only a float-rounding tie may differ
                        double[] other = new double[1];
                        float[] single = java.util.Arrays.copyOfRange(cb, idx[i] * d, idx[i] * d + d);
                        nearest(x, w, i, d, single, 1, other);
                        assertEquals(bd[0], other[0], 1e-5 * Math.max(1, bd[0]), "shape " + java.util.Arrays.toString(s));
                    }
                }
            }
        }
    }

    /** The distance as Backend#assignNearest defines it, scalar: fma(diff, diff, acc), weighted fma(w * diff, diff, acc). */
    static float definedDistance(float[] x, float[] w, int i, int d, float[] cb, int c) {
        float acc = 0f;
        for (int j = 0; j < d; j++) {
            float diff = cb[c * d + j] - x[i * d + j];
            acc = w == null ? Math.fma(diff, diff, acc) : Math.fma(w[i * d + j] * diff, diff, acc);
        }
        return acc;
    }

    @Test
    void theDistanceIsTheDefinedFusedSumBitForBit() {
        SplittableRandom r = new SplittableRandom(12);
        int unfusedDiffers = 0;
        for (int d = 1; d <= 16; d++) {
            int n = 37;
            int k = 3 * CpuKernels.lanes() + d; // a partial last vector of centroids
            float[] x = random(r, n * d);
            float[] cb = random(r, k * d);
            float[] w = new float[n * d];
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) (0.1 + r.nextDouble() * 3);
            }
            for (float[] weights : new float[][]{null, w}) {
                int[] idx = new int[n];
                float[] dist = new float[n];
                cpu.assignNearest(x, weights, n, d, cb, k, idx, dist);
                for (int i = 0; i < n; i++) {
                    int best = 0;
                    float bestDist = Float.POSITIVE_INFINITY;
                    for (int c = 0; c < k; c++) {
                        float e = definedDistance(x, weights, i, d, cb, c);
                        if (e < bestDist) {
                            bestDist = e;
                            best = c;
                        }
                    }
                    assertEquals(best, idx[i], "index, d=" + d + " vector " + i);
                    assertEquals(Float.floatToRawIntBits(bestDist), Float.floatToRawIntBits(dist[i]),
                            "distance bits, d=" + d + " vector " + i);
                    float unfused = 0f;
                    for (int j = 0; j < d; j++) {
                        float diff = cb[best * d + j] - x[i * d + j];
                        float sq = diff * diff;
                        unfused = weights == null ? unfused + sq : unfused + weights[i * d + j] * sq;
                    }
                    if (unfused != bestDist) {
                        unfusedDiffers++;
                    }
                }
            }
        }
        // the check above can tell the definitions apart: the unfused sum differs on many vectors
        assertTrue(unfusedDiffers > 100, "the unfused distance differed on only " + unfusedDiffers + " vectors");
    }

    /**
     * The kernel scores four vectors at a time (and the rest of a chunk one at a time): on data with
     * many exact ties (small integers, duplicated centroids) and with NaN and infinite vectors inside
     * a block of four, every vector still gets the scalar scan's answer, bit for bit.
     */
    @Test
    void blocksOfVectorsGiveTheScalarScansAnswerOnTiesNanAndInfinity() {
        SplittableRandom r = new SplittableRandom(31);
        for (int d : new int[] {1, 2, 3, 4, 8, 13, 16}) {
            int n = 64 * 2 + 7;
            int k = 2 * CpuKernels.lanes() + 5;
            float[] cb = new float[k * d];
            for (int i = 0; i < cb.length; i++) {
                cb[i] = r.nextInt(-2, 3);
            }
            System.arraycopy(cb, 0, cb, (k - 1) * d, d); // the last centroid repeats the first
            float[] x = new float[n * d];
            for (int i = 0; i < x.length; i++) {
                x[i] = r.nextInt(-3, 4) * 0.5f;
            }
            x[5 * d] = Float.NaN;                      // vector 5: second of its block
            x[66 * d + d - 1] = Float.POSITIVE_INFINITY; // vector 66: third of its block
            x[n * d - 1] = Float.NEGATIVE_INFINITY;     // the last vector, in the tail
            float[] w = new float[n * d];
            for (int i = 0; i < w.length; i++) {
                w[i] = r.nextInt(0, 3); // zero weights too
            }
            for (float[] weights : new float[][]{null, w}) {
                int[] idx = new int[n];
                float[] dist = new float[n];
                cpu.assignNearest(x, weights, n, d, cb, k, idx, dist);
                int ties = 0;
                for (int i = 0; i < n; i++) {
                    int best = 0;
                    float bestDist = Float.POSITIVE_INFINITY;
                    int equal = 0;
                    for (int c = 0; c < k; c++) {
                        float e = definedDistance(x, weights, i, d, cb, c);
                        if (e < bestDist) {
                            bestDist = e;
                            best = c;
                            equal = 0;
                        } else if (e == bestDist) {
                            equal++;
                        }
                    }
                    ties += equal > 0 ? 1 : 0;
                    assertEquals(best, idx[i], "index, d=" + d + " vector " + i);
                    assertEquals(Float.floatToRawIntBits(bestDist), Float.floatToRawIntBits(dist[i]),
                            "distance bits, d=" + d + " vector " + i);
                }
                assertEquals(0, idx[5], "a NaN vector gets centroid 0");
                assertEquals(Float.POSITIVE_INFINITY, dist[5]);
                assertTrue(ties >= 5, "only " + ties + " vectors had a tie at d=" + d);
            }
        }
    }

    @Test
    void exactTiesGoToTheLowestIndex() {
        float[] cb = {1, 1, -1, -1, 1, 1, -1, -1}; // centroids 0 and 2 equal, 1 and 3 equal (d = 2)
        float[] x = {0.9f, 1.1f, -1, -0.8f, 0, 0};
        int[] idx = new int[3];
        float[] dist = new float[3];
        cpu.assignNearest(x, null, 3, 2, cb, 4, idx, dist);
        assertArrayEquals(new int[] {0, 1, 0}, idx); // the origin is equidistant from all four
        assertEquals(2f, dist[2]);
    }

    @Test
    void accumulateCentroidsSumsWeightedMembers() {
        float[] x = {1, 2, 3, 4, 5, 6};
        float[] w = {1, 2, 3, 4, 5, 6};
        int[] idx = {1, 0, 1};
        double[] sums = new double[4];
        double[] ws = new double[4];
        cpu.accumulateCentroids(x, w, 3, 2, idx, 2, sums, ws);
        assertArrayEquals(new double[] {3 * 3, 4 * 4, 1 * 1 + 5 * 5, 2 * 2 + 6 * 6}, sums);
        assertArrayEquals(new double[] {3, 4, 1 + 5, 2 + 6}, ws);
        cpu.accumulateCentroids(x, null, 3, 2, idx, 2, sums, ws);
        assertArrayEquals(new double[] {3, 4, 6, 8}, sums);
        assertArrayEquals(new double[] {1, 1, 2, 2}, ws);
    }

    @Test
    void accumulateCentroidsIsBitwiseRepeatableAcrossManyPartials() {
        SplittableRandom r = new SplittableRandom(7);
        int n = 3 * CpuBackend.PARTIAL + 123, d = 4, k = 37;
        float[] x = random(r, n * d);
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) {
            idx[i] = r.nextInt(k);
        }
        double[] a = new double[k * d], aw = new double[k * d], b = new double[k * d], bw = new double[k * d];
        cpu.accumulateCentroids(x, null, n, d, idx, k, a, aw);
        cpu.accumulateCentroids(x, null, n, d, idx, k, b, bw);
        assertArrayEquals(a, b);
        double total = 0;
        for (double v : aw) {
            total += v;
        }
        assertEquals((double) n * d, total);
        assertTrue(cpu.name().startsWith("cpu"));
    }
}
