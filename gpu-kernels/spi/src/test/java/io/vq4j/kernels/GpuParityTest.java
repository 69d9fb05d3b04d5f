package io.vq4j.kernels;

import io.vq4j.kernels.device.CpuFallback;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.kernels.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    /** A second instance of the backend whose calls may hold at most {@code bytes} on the device. */
    protected abstract Backend openLimited(long bytes);

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
    void gemmAssignmentEqualsTheExactKernelUpToNearTies() {
        // the matmul form (issue 17 item 1): across both tile boundaries (4096 vectors, 4096
        // centroids), weighted and not; duplicates across tiles go to the lowest index
        SplittableRandom r = new SplittableRandom(3);
        int[][] shapes = {{4099, 4, 4097}, {777, 16, 256}, {300, 8, 9000}, {65, 1, 7}, {70, 4, 65536}};
        int ties = 0;
        int total = 0;
        for (int[] s : shapes) {
            int n = s[0], d = s[1], k = s[2];
            float[] x = gaussian(r, n * d);
            float[] cb = gaussian(r, k * d);
            if (k > 4100) {
                System.arraycopy(cb, 5 * d, cb, 4100 * d, d);
                System.arraycopy(cb, 5 * d, x, 0, d);
            }
            float[] w = new float[n * d];
            for (int i = 0; i < w.length; i++) {
                w[i] = i % 11 == 0 ? 0f : (float) r.nextDouble(0.01, 10);
            }
            String what = gpu.name() + " n=" + n + " d=" + d + " k=" + k;
            ties += NearTies.check(what, gpu, x, null, n, d, cb, k);
            ties += NearTies.check(what + " weighted", gpu, x, w, n, d, cb, k);
            total += 2 * n;
            int[] a = new int[n];
            int[] b = new int[n];
            gpu.assignNearestGemm(x, w, n, d, cb, k, a, new float[n]);
            gpu.assignNearestGemm(x, w, n, d, cb, k, b, new float[n]);
            assertArrayEquals(a, b, what + ": the same indices on every run");
            if (k > 4100) {
                gpu.assignNearestGemm(x, null, n, d, cb, k, a, new float[n]);
                assertEquals(5, a[0], what + ": an exact tie across tiles goes to the lowest index");
            }
        }
        assertTrue(ties * 1000 < total, ties + " near-ties in " + total + " vectors");
    }

    /**
     * A 70 x 100 layer of every kind of segment (3-bit scalar codes in groups of 16, a two-stage
     * residual VQ segment of d = 4 along the input axis, fp16 outliers), permuted and normalised:
     * rows and columns that are not multiples of the batched kernel's tiles.
     */
    static PackedMatrix mixedLayer(SplittableRandom r) {
        int rows = 70;
        int cols = 100;
        int[] codes = new int[rows * 40];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = r.nextInt(8);
        }
        float[] scales = new float[rows * 3];
        int[] zeros = new int[rows * 3];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = (float) r.nextDouble(0.01, 0.2);
            zeros[i] = r.nextInt(8);
        }
        int vectors = rows * 56 / 4;
        List<StageValues> stages = new ArrayList<>();
        for (int k : new int[]{16, 4}) {
            int[] idx = new int[vectors];
            for (int i = 0; i < vectors; i++) {
                idx[i] = r.nextInt(k);
            }
            stages.add(new StageValues(k, gaussian(r, k * 4), idx));
        }
        int[] perm = new int[cols];
        for (int c = 0; c < cols; c++) {
            perm[c] = (c * 37 + 11) % cols;
        }
        float[] scale = gaussian(r, cols);
        float[] bias = gaussian(r, cols);
        return PackedMatrix.builder(rows, cols)
                .scalar("", 0, 40, 3, 16, false, codes, scales, zeros)
                .vector("", 40, 96, Axis.IN, 4, rows, 56, stages, null)
                .dense(96, 100, gaussian(r, rows * 4), true)
                .permutation(perm)
                .norm(scale, bias)
                .build();
    }

    @Test
    void packedMatmulIsTheCpuBitsInBatchesAndWithinTheBoundForOneRow() {
        SplittableRandom r = new SplittableRandom(7);
        PackedMatrix pm = mixedLayer(r);
        int rows = pm.rows();
        int cols = pm.cols();
        float[] w = pm.dequantize();
        try (PackedWeights hc = cpu.upload(pm); PackedWeights hg = gpu.upload(pm)) {
            // n >= 2: the batched kernel, tiles of rows and tokens, partial ones included
            for (int n : new int[]{2, 63, 64, 65, 130}) {
                float[] x = gaussian(r, n * cols);
                float[] y1 = new float[n * rows];
                float[] y2 = new float[n * rows];
                cpu.dequantMatmul(hc, x, n, y1);
                gpu.dequantMatmul(hg, x, n, y2);
                assertArrayEquals(y1, y2, "dequantMatmul n=" + n + ", bit for bit");
            }
            // n = 1: a work-group per row and a tree of partial sums, within the stated bound
            for (int rep = 0; rep < 3; rep++) {
                float[] x = gaussian(r, cols);
                float[] y1 = new float[rows];
                float[] y2 = new float[rows];
                float[] y3 = new float[rows];
                cpu.dequantMatvec(hc, x, y1);
                gpu.dequantMatvec(hg, x, y2);
                gpu.dequantMatvec(hg, x, y3);
                assertArrayEquals(y2, y3, "the same bits on every run");
                for (int o = 0; o < rows; o++) {
                    double magnitude = 0;
                    for (int c = 0; c < cols; c++) {
                        magnitude += Math.abs((double) w[o * cols + c] * x[c]);
                    }
                    double bound = 2.0 * cols * 0x1p-24 * magnitude;
                    assertEquals(y1[o], y2[o], bound, "row " + o + ": |gpu - cpu| within 2 cols 2^-24 sum |w x|");
                }
            }
        }
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


    @Test
    void callsTooBigForTheDeviceRunInTilesWithTheSameBits() {
        SplittableRandom r = new SplittableRandom(5);
        int n = 20000;
        int d = 4;
        int k = 300;
        float[] x = gaussian(r, n * d);
        float[] w = new float[n * d];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextDouble(0, 2);
        }
        float[] cb = gaussian(r, k * d);
        int[] i1 = new int[n];
        float[] d1 = new float[n];
        gpu.assignNearest(x, w, n, d, cb, k, i1, d1);
        double[] s1 = new double[k * d];
        double[] w1 = new double[k * d];
        gpu.accumulateCentroids(x, w, n, d, i1, k, s1, w1);
        int rows = 50;
        int cols = 40;
        int m = 9;
        io.vq4j.kernels.packed.PackedMatrix pm = io.vq4j.kernels.packed.PackedMatrix.dense(gaussian(r, rows * cols),
                rows, cols, false);
        float[] xm = gaussian(r, m * cols);
        float[] y1 = new float[m * rows];
        try (PackedWeights h = gpu.upload(pm)) {
            gpu.dequantMatmul(h, xm, m, y1);
        }

        // the M-step's 5 partials and its sums take 2 x 6 x 1,200 doubles (115,200 bytes); 320 KiB leaves
        // room for one partial of 4,096 vectors per tile (36 bytes each), the assignment takes 3 tiles
        long limit = 320 << 10;
        try (Backend small = openLimited(limit)) {
            small.resetPeakDeviceBytes();
            int[] i2 = new int[n];
            float[] d2 = new float[n];
            small.assignNearest(x, w, n, d, cb, k, i2, d2);
            assertArrayEquals(i1, i2, "tiled assignment");
            assertArrayEquals(d1, d2, "tiled distances");
            double[] s2 = new double[k * d];
            double[] w2 = new double[k * d];
            small.accumulateCentroids(x, w, n, d, i2, k, s2, w2);
            assertArrayEquals(s1, s2, "tiled sums");
            assertArrayEquals(w1, w2, "tiled weight sums");
        }
        // 1,000 bytes per call hold 2 of the 9 input rows (40 + 50 floats each): 5 tiles
        try (Backend small = openLimited(1000)) {
            float[] y2 = new float[m * rows];
            try (PackedWeights h = small.upload(pm)) {
                small.resetPeakDeviceBytes();
                small.dequantMatmul(h, xm, m, y2);
                assertEquals(pm.deviceBytes() + 2 * 90 * 4, small.peakDeviceBytes(), "the upload and two rows");
            }
            assertArrayEquals(y1, y2, "tiled dequantMatmul");
        }
        try (Backend small = openLimited(limit)) {
            small.resetPeakDeviceBytes();
            small.assignNearest(x, null, n, d, cb, k, new int[n], new float[n]);
            small.accumulateCentroids(x, w, n, d, i1, k, new double[k * d], new double[k * d]);
            assertEquals(true, small.peakDeviceBytes() <= limit, "peak " + small.peakDeviceBytes() + " > " + limit);
            assertEquals(true, small.peakDeviceBytes() > limit / 4, "the budget was used: " + small.peakDeviceBytes());
        }
        // a codebook bigger than the budget cannot be tiled: one clear line
        try (Backend tiny = openLimited(1000)) {
            IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    () -> tiny.assignNearest(x, null, n, d, cb, k, new int[n], new float[n]));
            assertEquals(true, e.getMessage().contains("assignNearest n=20000 d=4 k=300 does not fit the device"),
                    e.getMessage());
            assertEquals(true, e.getMessage().startsWith(tiny.name()), e.getMessage());
        }
    }

    @Test
    void autoRunsOnTheCpuWhatTheDeviceCannotHoldAndSaysSoOnce() {
        SplittableRandom r = new SplittableRandom(6);
        java.util.List<String> said = new java.util.ArrayList<>();
        int n = 500;
        int d = 4;
        int k = 300; // a 4,800-byte codebook: more than the 1,000 bytes a call may hold
        float[] x = gaussian(r, n * d);
        float[] cb = gaussian(r, k * d);
        int[] i1 = new int[n];
        float[] d1 = new float[n];
        cpu.assignNearest(x, null, n, d, cb, k, i1, d1);
        int rows = 200;
        int cols = 100; // an input row and an output row take 1,200 bytes
        io.vq4j.kernels.packed.PackedMatrix pm = io.vq4j.kernels.packed.PackedMatrix.dense(gaussian(r, rows * cols),
                rows, cols, false);
        float[] xm = gaussian(r, 3 * cols);
        float[] y1 = new float[3 * rows];
        try (PackedWeights h = cpu.upload(pm)) {
            cpu.dequantMatmul(h, xm, 3, y1);
        }
        try (Backend b = new CpuFallback(openLimited(1000), said::add)) {
            assertEquals(gpu.name(), b.name());
            for (int rep = 0; rep < 2; rep++) {
                int[] i2 = new int[n];
                float[] d2 = new float[n];
                b.assignNearest(x, null, n, d, cb, k, i2, d2);
                assertArrayEquals(i1, i2);
                assertArrayEquals(d1, d2);
            }
            float[] y2 = new float[3 * rows];
            try (PackedWeights h = b.upload(pm)) {
                assertEquals(pm.deviceBytes(), h.deviceBytes(), "the upload itself is on the device");
                b.dequantMatmul(h, xm, 3, y2);
            }
            assertArrayEquals(y1, y2);
        }
        assertEquals(2, said.size(), said.toString());
        assertEquals(true, said.get(0).startsWith(gpu.name() + ": assignNearest n=500 d=4 k=300 does not fit the device")
                && said.get(0).endsWith("--device auto runs assignNearest on the CPU instead"), said.get(0));
        assertEquals(true, said.get(1).contains("dequantMatmul 200x100 n=3 does not fit"), said.get(1));
    }
}
