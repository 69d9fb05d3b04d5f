package io.vq4j.kernels.feedback;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.device.CpuFallback;
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
 * gptvqBlock of a device backend against the CPU's code ({@link GptvqBlock}), bit for bit: every
 * block of a GPTVQ loop run on the CPU is run again on the device from the CPU's W as it was
 * before that block, and the indices and errors must be the CPU's. Shapes: d from 1 to 16, k below,
 * at and above the kernel's 64 work-items (and 1), several codebooks per column group (row blocks),
 * a short last block, rows not a multiple of anything; block-norm scales on and off. The
 * codebooks stress the nearest-centroid rule: duplicated centroids (a tie goes to the lowest
 * index), centroids equal to a row's sub-vector (distance 0), rows so large that every distance
 * overflows (nothing below infinity: centroid 0) and a NaN weight (every distance NaN: centroid 0).
 * Each backend's test opens its device (or skips, saying why).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class VectorFeedbackParityTest {
    private static final CpuBackend CPU = new CpuBackend();
    protected Backend dev;

    /** The backend under test; skips (an assumption) when its device is absent and not required. */
    protected abstract Backend open();

    @BeforeAll
    void openDevice() {
        dev = open();
    }

    @AfterAll
    void closeDevice() {
        if (dev != null) {
            dev.close();
        }
    }

    /** A codebook per row block (rowBlocks × k × d), with duplicates and some of W's own sub-vectors. */
    static float[] books(float[] w, int rows, int cols, int d, int k, int rowBlocks, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] b = new float[rowBlocks * k * d];
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) r.nextGaussian();
        }
        for (int rb = 0; rb < rowBlocks; rb++) {
            int o = rb * k * d;
            if (k >= 4) { // centroid 3 repeats centroid 1, the last repeats centroid 0: ties
                System.arraycopy(b, o + d, b, o + 3 * d, d);
                System.arraycopy(b, o, b, o + (k - 1) * d, d);
            }
            if (k >= 8) { // a row's first sub-vector as a centroid: distance 0 there
                int row = rb * (rows / rowBlocks);
                System.arraycopy(w, row * cols, b, o + 5 * d, d);
            }
        }
        return b;
    }

    /** D_j = 1 / [H⁻¹]_jj from U (cols × cols). */
    static double[] weightsOf(double[] u, int cols) {
        double[] dw = new double[cols];
        for (int j = 0; j < cols; j++) {
            double s = 0;
            for (int i = 0; i <= j; i++) {
                s += u[i * cols + j] * u[i * cols + j];
            }
            dw[j] = 1.0 / s;
        }
        return dw;
    }

    /** Powers of two and odd scales per row and slice (rows × cols/d), constant within each slice. */
    static float[] scales(int rows, int cols, int d, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] s = new float[rows * (cols / d)];
        for (int i = 0; i < s.length; i++) {
            s[i] = r.nextBoolean() ? (float) Math.pow(2, r.nextInt(-3, 4)) : (float) (0.3 + 2 * r.nextDouble());
        }
        return s;
    }

    /**
     * The loop on the CPU (in-block step, then the lazy update of the later columns), each block
     * also on the device from the CPU's W before it; returns the blocks compared.
     */
    static int compare(Backend device, float[] weight, double[] u, double[] dw, int rows, int cols, int d,
                       float[] books, int k, int gRows, float[] allScales, int bs, String what) {
        float[] w = weight.clone();
        int per = cols / d;
        int[] idx = new int[rows * per], dIdx = new int[rows * per];
        int blocks = 0;
        try (ResidentMatrix cw = CPU.resident(w, rows, cols);
             ResidentMatrix ce = CPU.resident(new float[rows * bs], rows, bs)) {
            for (int i1 = 0; i1 < cols; i1 += bs) {
                int i2 = Math.min(cols, i1 + bs);
                int width = i2 - i1;
                double[] ub = new double[width * width];
                for (int a = 0; a < width; a++) {
                    System.arraycopy(u, (i1 + a) * cols + i1, ub, a * width, width);
                }
                double[] db = new double[width];
                System.arraycopy(dw, i1, db, 0, width);
                float[] sc = null;
                if (allScales != null) {
                    sc = new float[rows * (width / d)];
                    for (int r = 0; r < rows; r++) {
                        System.arraycopy(allScales, r * per + i1 / d, sc, r * (width / d), width / d);
                    }
                }
                float[] before = w.clone();
                CPU.gptvqBlock(cw, i1, i2, ub, db, d, books, k, gRows, sc, idx, ce);
                float[] err = new float[rows * width];
                CPU.read(ce, 0, 0, rows, width, err, 0, width);
                float[] dErr = new float[rows * width];
                try (ResidentMatrix dwm = device.resident(before, rows, cols);
                     ResidentMatrix de = device.resident(new float[rows * bs], rows, bs)) {
                    device.gptvqBlock(dwm, i1, i2, ub, db, d, books, k, gRows, sc, dIdx, de);
                    device.read(de, 0, 0, rows, width, dErr, 0, width);
                }
                String at = what + ", block at " + i1;
                assertArrayEquals(idx, dIdx, "indices, " + at);
                assertArrayEquals(err, dErr, "errors, " + at);
                FeedbackParityTest.cpuLazyUpdate(CPU, cw, u, rows, cols, i1, i2, err);
                blocks++;
            }
        }
        return blocks;
    }

    @Test
    void theDeviceBlockHasTheCpusBits() {
        // rows, cols, d, k, row blocks, block width, scales, weight kind (FeedbackParityTest.weights)
        int[][] cases = {
                {37, 96, 2, 256, 1, 32, 0, 0},   // k a multiple of the work-group, short rows
                {23, 130, 2, 100, 1, 48, 1, 0},  // k not a multiple, scales, a short last block
                {64, 64, 4, 16, 4, 32, 1, 1},    // k below the work-group; four codebooks; ties of 1/8
                {9, 48, 1, 7, 3, 20, 0, 0},      // d = 1 (GPTQ on a codebook), three codebooks
                {70, 48, 3, 65, 2, 12, 1, 3},    // d = 3, k just past the work-group, tiny and zero rows
                {5, 64, 8, 300, 1, 64, 1, 0},    // d = 8
                {12, 32, 16, 1, 1, 32, 0, 0},    // d = 16, one centroid
                {18, 64, 16, 33, 6, 16, 1, 2},   // d = 16 in blocks of one slice, six codebooks
        };
        int total = 0;
        for (int[] c : cases) {
            int rows = c[0], cols = c[1], d = c[2], k = c[3], rowBlocks = c[4], bs = c[5];
            String what = rows + "x" + cols + " d=" + d + " k=" + k + " codebooks=" + rowBlocks + " B=" + bs
                    + " scales=" + c[6] + " kind=" + c[7];
            float[] w = FeedbackParityTest.weights(rows, cols, c[7], rows * 17L + cols);
            double[] u = FeedbackParityTest.factor(cols, cols + 3);
            total += compare(dev, w, u, weightsOf(u, cols), rows, cols, d, books(w, rows, cols, d, k, rowBlocks,
                    cols), k, rows / rowBlocks, c[6] == 1 ? scales(rows, cols, d, rows) : null, bs, what);
        }
        assertEquals(3 + 3 + 2 + 3 + 4 + 1 + 1 + 4, total, "blocks compared");
    }

    /** Rows whose distances all overflow, or are all NaN: centroid 0 on both, and the same errors. */
    @Test
    void nothingBelowInfinityTakesCentroidZero() {
        int rows = 6, cols = 8, d = 2, k = 70;
        float[] w = FeedbackParityTest.weights(rows, cols, 0, 5);
        for (int c = 0; c < cols; c++) {
            w[cols + c] = 3e38f * (c % 2 == 0 ? 1 : -1); // row 1: (x − c)² overflows to infinity
        }
        double[] u = FeedbackParityTest.factor(cols, 7);
        double[] dw = weightsOf(u, cols);
        float[] s = new float[rows * (cols / d)];
        java.util.Arrays.fill(s, 1f);
        s[2 * (cols / d) + 1] = Float.NaN; // row 2, second slice: NaN weights and sub-vector
        float[] books = books(w, rows, cols, d, k, 1, 9);
        assertEquals(1, compare(dev, w, u, dw, rows, cols, d, books, k, rows, s, cols, "overflow and NaN"));
        int[] idx = new int[rows * (cols / d)];
        try (ResidentMatrix m = CPU.resident(w.clone(), rows, cols);
             ResidentMatrix e = CPU.resident(new float[rows * cols], rows, cols)) {
            double[] ub = u.clone();
            CPU.gptvqBlock(m, 0, cols, ub, dw, d, books, k, rows, s, idx, e);
        }
        assertEquals(0, idx[cols / d], "row 1's first slice: every distance infinite");
        assertEquals(0, idx[2 * (cols / d) + 1], "row 2's NaN slice");
    }

    /**
     * Under {@code --device auto} (the CpuFallback wrapper) W and E stay on the device and the step
     * is the device's, with the device's bits (the wrapper forwards gptvqBlock as it does gptqBlock).
     */
    @Test
    void autoRunsTheStepOnTheDevice() {
        List<String> said = new ArrayList<>();
        Backend auto = new CpuFallback(dev, said::add); // not closed: that would close dev
        int rows = 37, cols = 70, d = 2, k = 90;
        float[] w = FeedbackParityTest.weights(rows, cols, 0, 21);
        double[] u = FeedbackParityTest.factor(cols, 22);
        dev.resetPeakDeviceBytes();
        assertEquals(3, compare(auto, w, u, weightsOf(u, cols), rows, cols, d, books(w, rows, cols, d, k, 1, 23), k,
                rows, scales(rows, cols, d, 24), 32, "through --device auto"));
        assertTrue(dev.peakDeviceBytes() >= (long) rows * cols * Float.BYTES, "W was not on the device: "
                + dev.peakDeviceBytes() + " bytes");
        assertEquals(List.of(), said);
    }
}
