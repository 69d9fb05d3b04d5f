package io.vq4j.kernels.feedback;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.device.CpuFallback;
import io.vq4j.kernels.linalg.InverseCholesky;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * gptqBlock of a device backend against the CPU's code ({@link GptqBlock}), bit for bit: every
 * block of a GPTQ loop run on the CPU is run again on the device from the CPU's W as it was
 * before that block, and the codes, grids and errors must be the CPU's. Shapes cut the groups
 * and blocks in awkward places (groups crossing blocks, longer than a block, whole-row groups, a
 * short last block, rows not a multiple of the work-group); the weights stress the ported Java
 * arithmetic: exact rounding ties (multiples of 1/8), signed zeros, all-zero groups, magnitudes
 * whose scales are fp16 subnormals or round to fp16 zero, 2 to 16 bits. A scale past fp16 is
 * refused with the CPU's message. Each backend's test opens its device (or skips, saying why).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class FeedbackParityTest {
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

    /**
     * Under {@code --device auto} (the CpuFallback wrapper) the resident W and E, the in-block
     * step and the lazy update's resident gemm are the device's, with the same bits as the device
     * called directly (the wrapper used to hand back host matrices, so all of it ran on the CPU).
     */
    @Test
    void autoRunsTheLoopOnTheDevice() {
        List<String> said = new ArrayList<>();
        Backend auto = new CpuFallback(dev, said::add); // not closed: that would close dev
        int rows = 37, cols = 70;
        dev.resetPeakDeviceBytes();
        assertEquals(5, compare(auto, weights(rows, cols, 0, 12), factor(cols, 11), rows, cols, 4, 32, false, 16,
                "through --device auto"));
        assertTrue(dev.peakDeviceBytes() >= (long) rows * cols * Float.BYTES, "W was not on the device: "
                + dev.peakDeviceBytes() + " bytes");
        float[] a = weights(rows, 16, 0, 13), b = weights(16, cols, 0, 14), c0 = weights(rows, cols, 0, 15);
        float[] viaAuto = new float[rows * cols], direct = new float[rows * cols];
        for (Backend x : List.of(auto, dev)) {
            try (ResidentMatrix ra = x.resident(a, rows, 16); ResidentMatrix rb = x.resident(b, 16, cols);
                 ResidentMatrix rc = x.resident(c0.clone(), rows, cols)) {
                x.gemm(false, false, rows, cols, 16, -1f, ra, 0, 0, rb, 0, 0, 1f, rc, 0, 0);
                x.read(rc, 0, 0, rows, cols, x == auto ? viaAuto : direct, 0, cols);
            }
        }
        assertArrayEquals(direct, viaAuto, "resident gemm through --device auto");
        assertEquals(List.of(), said);
    }

    /** The factor U of a random, well-conditioned H (cols × cols). */
    static double[] factor(int cols, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = 2 * cols + 8;
        double[] x = new double[n * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextGaussian();
        }
        double[] h = new double[cols * cols];
        for (int i = 0; i < cols; i++) {
            for (int j = 0; j < cols; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) {
                    s += x[k * cols + i] * x[k * cols + j];
                }
                h[i * cols + j] = s / n + (i == j ? 0.05 : 0);
            }
        }
        assertTrue(InverseCholesky.inPlace(h, cols));
        return h;
    }

    /** Weights of the given kind: 0 Gaussian, 1 multiples of 1/8 with zeros of both signs, 2 tiny, 3 mixed rows. */
    static float[] weights(int rows, int cols, int kind, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            int k = kind == 3 ? (i / cols) % 4 : kind;
            w[i] = switch (k) {
                case 0 -> (float) (r.nextGaussian() * (r.nextInt(10) == 0 ? 5 : 1));
                case 1 -> r.nextInt(6) == 0 ? (r.nextBoolean() ? -0f : 0f) : r.nextInt(-24, 25) / 8f;
                case 2 -> (float) (r.nextGaussian() * 1e-6);
                default -> r.nextInt(4) == 0 ? 0f : (float) (r.nextGaussian() * 1e-9);
            };
        }
        return w;
    }

    /** The loop on the CPU, each block also on the device from the CPU's W before it; returns the blocks compared. */
    static int compare(Backend device, float[] weight, double[] u, int rows, int cols, int bits, int groupSize,
                       boolean symmetric, int bs, String what) {
        int g = groupSize <= 0 ? cols : groupSize;
        int groups = (cols + g - 1) / g;
        float[] w = weight.clone();
        int[] codes = new int[rows * cols], dCodes = new int[rows * cols];
        float[] scales = new float[rows * groups], dScales = new float[rows * groups];
        int[] zeros = new int[rows * groups], dZeros = new int[rows * groups];
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
                float[] before = w.clone();
                CPU.gptqBlock(cw, i1, i2, ub, bits, groupSize, symmetric, codes, scales, zeros, ce);
                float[] err = new float[rows * width];
                CPU.read(ce, 0, 0, rows, width, err, 0, width);
                float[] dErr = new float[rows * width];
                try (ResidentMatrix dw = device.resident(before, rows, cols);
                     ResidentMatrix de = device.resident(new float[rows * bs], rows, bs)) {
                    device.gptqBlock(dw, i1, i2, ub, bits, groupSize, symmetric, dCodes, dScales, dZeros, de);
                    device.read(de, 0, 0, rows, width, dErr, 0, width);
                }
                String at = what + ", block at " + i1;
                assertArrayEquals(codes, dCodes, "codes, " + at);
                assertArrayEquals(scales, dScales, "scales, " + at);
                assertArrayEquals(zeros, dZeros, "zeros, " + at);
                assertArrayEquals(err, dErr, "errors, " + at);
                cpuLazyUpdate(CPU, cw, u, rows, cols, i1, i2, err);
                blocks++;
            }
        }
        return blocks;
    }

    /**
     * The lazy update on the CPU after the block of columns [i1, i2), so the next block starts from
     * the CPU's W: W[:, i2:] -= err · U[i1:i2, i2:] (err: rows × (i2 − i1)).
     */
    static void cpuLazyUpdate(CpuBackend cpu, ResidentMatrix cw, double[] u, int rows, int cols, int i1, int i2, float[] err) {
        int width = i2 - i1;
        int rest = cols - i2;
        if (rest == 0) {
            return;
        }
        float[] panel = new float[width * rest];
        for (int a = 0; a < width; a++) {
            for (int b = 0; b < rest; b++) {
                panel[a * rest + b] = (float) u[(i1 + a) * cols + i2 + b];
            }
        }
        float[] tail = new float[rows * rest];
        cpu.read(cw, 0, i2, rows, rest, tail, 0, rest);
        cpu.gemm(false, false, rows, rest, width, -1f, err, panel, 1f, tail);
        cpu.write(cw, 0, i2, rows, rest, tail, 0, rest);
    }

    @Test
    void theDeviceBlockHasTheCpusBits() {
        // rows, cols, bits, group, block, symmetric, weight kind
        int[][] cases = {
                {37, 300, 4, 128, 128, 0, 0},   // short last block, groups aligned to blocks
                {23, 130, 3, 48, 32, 0, 0},     // groups cross block ends and are longer than a block
                {9, 129, 4, 0, 128, 1, 0},      // one group per row, wider than a block
                {70, 64, 2, 16, 128, 0, 1},     // one block wider than the layer; rounding ties, signed zeros
                {65, 96, 8, 32, 20, 1, 1},      // blocks not a multiple of groups, symmetric, ties
                {1, 33, 16, 7, 5, 0, 2},        // one row, 16 bits, fp16-subnormal scales
                {40, 80, 4, 16, 16, 0, 3},      // mixed rows: scales that round to fp16 zero, all-zero groups
                {31, 72, 3, 24, 24, 1, 3},
        };
        int total = 0;
        for (int[] c : cases) {
            int rows = c[0], cols = c[1], bits = c[2], g = c[3], bs = c[4];
            String what = rows + "x" + cols + " bits=" + bits + " g=" + g + " B=" + bs + " sym=" + c[5] + " kind="
                    + c[6];
            total += compare(dev, weights(rows, cols, c[6], rows * 31L + cols), factor(cols, cols), rows, cols, bits,
                    g, c[5] == 1, Math.min(bs, cols), what);
        }
        assertEquals(31, total, "blocks compared");
    }

    @Test
    void aScaleOutsideFp16IsRefusedAsOnTheCpu() {
        int rows = 3, cols = 8;
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i % 3 - 1) * 1e9f;
        }
        double[] u = factor(cols, 1);
        double[] ub = new double[cols * cols];
        System.arraycopy(u, 0, ub, 0, ub.length);
        IllegalArgumentException cpu = assertThrows(IllegalArgumentException.class, () -> run(CPU, w, ub, rows, cols));
        IllegalArgumentException gpu = assertThrows(IllegalArgumentException.class, () -> run(dev, w, ub, rows, cols));
        assertEquals(cpu.getMessage(), gpu.getMessage());
    }

    private static void run(Backend b, float[] w, double[] ub, int rows, int cols) {
        try (ResidentMatrix m = b.resident(w.clone(), rows, cols);
             ResidentMatrix e = b.resident(new float[rows * cols], rows, cols)) {
            b.gptqBlock(m, 0, cols, ub, 4, 0, false, new int[rows * cols], new float[rows], new int[rows], e);
        }
    }
}
