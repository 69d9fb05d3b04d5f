package io.vq4j.kernels.linalg;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.GramSums;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * accumulateGram and inverseCholeskyUpper of a GPU backend against the CPU backend, bit for bit
 * (Arrays.equals on doubles compares bits, the sign of zeros included): the Gram on shapes that cut
 * its row chunks (256) anywhere; the factor for every n from 1 to 300 (every position of the
 * panels, NB = 128, and of the inverse's chunks, KC = 256) and at 517, on H as HessianAccumulator makes it,
 * dead columns included; a singular H (dead columns left at 0) through the re-damping loop of
 * quant.core.Linalg#inverseCholeskyUpperDamped, which must need the same tries and give the same
 * U; not positive definite and NaN reported as the CPU reports them; the device buffers counted
 * and released; gramSums held on the device against accumulateGram into a host array. Each backend's subclass opens its device in {@link #open()} (or skips, saying why).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class LinalgParityTest {
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

    /** Heavy-tailed activations, some columns dead (always 0). */
    public static float[] activations(int rows, int dim, long seed, int... dead) {
        SplittableRandom g = new SplittableRandom(seed);
        float[] x = new float[rows * dim];
        for (int i = 0; i < x.length; i++) {
            double v = g.nextGaussian();
            x[i] = (float) (g.nextInt(10) == 0 ? v * 20 : v);
        }
        for (int c : dead) {
            for (int r = 0; r < rows; r++) {
                x[r * dim + c] = 0;
            }
        }
        return x;
    }

    /**
     * H as HessianAccumulator makes it: 2/n XᵀX mirrored; with {@code fixDead} a dead column's
     * diagonal set to 1 and the whole damped by 1 % of mean(diag H); without, left singular.
     */
    public static double[] hessian(float[] x, int rows, int dim, boolean fixDead) {
        double[] s = new double[dim * dim];
        Gram.accumulate(x, rows, dim, s);
        double[] h = new double[dim * dim];
        for (int i = 0; i < dim; i++) {
            for (int j = 0; j <= i; j++) {
                h[i * dim + j] = h[j * dim + i] = s[i * dim + j] * 2.0 / rows;
            }
        }
        if (fixDead) {
            double mean = 0;
            for (int i = 0; i < dim; i++) {
                if (h[i * dim + i] == 0) {
                    h[i * dim + i] = 1;
                }
                mean += h[i * dim + i];
            }
            for (int i = 0; i < dim; i++) {
                h[i * dim + i] += 0.01 * mean / dim;
            }
        }
        return h;
    }

    /** The factored H of size n that the factor tests use: rows < n, so only the damping keeps it definite. */
    public static double[] dampedHessian(int n) {
        int rows = Math.max(8, n / 2);
        return hessian(activations(rows, n, n, n / 3, n - 1), rows, n, true);
    }

    /** Relative Frobenius distance ‖a − b‖ / ‖b‖. */
    public static double relativeFrobenius(double[] a, double[] b) {
        double d = 0, s = 0;
        for (int i = 0; i < b.length; i++) {
            d += (a[i] - b[i]) * (a[i] - b[i]);
            s += b[i] * b[i];
        }
        return Math.sqrt(d / s);
    }

    /** The damped factor every backend's caller runs ({@link DampedFactor}), tries[0] = factorisations run. */
    public static double[] damped(Backend b, double[] h, int n, int[] tries) {
        return DampedFactor.factor(b::inverseCholeskyUpper, h, n, tries);
    }

    @Test
    void theGramIsTheCpusBitForBit() {
        int[][] shapes = {{1, 1}, {3, 17}, {255, 16}, {256, 33}, {257, 64}, {300, 130}, {513, 64}, {40, 257}};
        for (int[] sh : shapes) {
            int rows = sh[0], dim = sh[1];
            float[] x = dim > 1 ? activations(rows, dim, rows * 31L + dim, dim / 2) : activations(rows, dim, rows);
            double[] h0 = new double[dim * dim];
            SplittableRandom g = new SplittableRandom(dim);
            for (int i = 0; i < h0.length; i++) {
                h0[i] = g.nextDouble() * 100; // a running sum; its upper triangle must stay as it is
            }
            double[] want = h0.clone();
            double[] got = h0.clone();
            cpu.accumulateGram(x, rows, dim, want);
            gpu.accumulateGram(x, rows, dim, got);
            assertFalse(Arrays.equals(h0, want), "the Gram added something at " + rows + "x" + dim);
            assertTrue(Arrays.equals(want, got), "Gram " + rows + "x" + dim + " differs in its bits");
        }
    }

    /**
     * gramSums: batches from the host and from resident matrices of the backend, held where it
     * computes, taken once: the CPU's accumulateGram into a host array of the same batches, bit for
     * bit; its memory counted while held and let go of at take() and close(); use after take() refused.
     */
    @Test
    void theGramSumsAreTheCpusAccumulateGramOfTheSameBatches() {
        int[][] shapes = {{1, 1}, {300, 130}, {513, 64}, {40, 257}};
        for (int[] sh : shapes) {
            int rows = sh[0], dim = sh[1];
            double[] want = new double[dim * dim];
            gpu.resetPeakDeviceBytes();
            long before = gpu.peakDeviceBytes();
            double[] got;
            try (GramSums sums = gpu.gramSums(dim)) {
                assertEquals(dim, sums.dim());
                for (int batch = 0; batch < 3; batch++) {
                    int n = rows + batch * 7; // ragged against the 256-row chunks
                    float[] x = activations(n, dim, n * 131L + dim + batch, dim / 3);
                    cpu.accumulateGram(x, n, dim, want);
                    if (batch == 1) {
                        float[] padded = Arrays.copyOf(x, (n + 5) * dim); // the first n rows of a taller matrix
                        try (ResidentMatrix r = gpu.resident(padded, n + 5, dim)) {
                            sums.add(r, n);
                        }
                    } else {
                        sums.add(x, n);
                    }
                }
                if (before >= 0 && (long) dim * dim > 1) {
                    assertTrue(gpu.peakDeviceBytes() >= before + (long) dim * dim * Double.BYTES,
                            "the sums are counted while held (" + dim + ")");
                }
                got = sums.take();
                assertThrows(IllegalStateException.class, () -> sums.add(new float[dim], 1), "added after take()");
                assertThrows(IllegalStateException.class, sums::take, "taken twice");
            }
            assertTrue(Arrays.equals(want, got), "gramSums " + rows + "x" + dim + " differs in its bits");
            gpu.resetPeakDeviceBytes();
            assertEquals(before, gpu.peakDeviceBytes(), "released after take() (" + dim + ")");
        }
        GramSums open = gpu.gramSums(64);
        open.add(activations(10, 64, 5), 10);
        open.close();
        open.close();
        assertThrows(IllegalStateException.class, open::take, "taken after close()");
        gpu.resetPeakDeviceBytes();
        long held = gpu.peakDeviceBytes();
        try (GramSums s = gpu.gramSums(64); ResidentMatrix narrow = gpu.resident(new float[32], 1, 32)) {
            assertThrows(IllegalArgumentException.class, () -> s.add(narrow, 1), "inputs of another width");
        }
        gpu.resetPeakDeviceBytes();
        assertTrue(gpu.peakDeviceBytes() <= held, "closed sums let go of their memory");
    }

    @Test
    void theFactorIsTheCpusBitForBitForEveryNUpTo300AndAt517() {
        // 517: past two chunks of the inverse
        for (int n : IntStream.concat(IntStream.rangeClosed(1, 300), IntStream.of(517)).toArray()) {
            double[] h = dampedHessian(n);
            double[] want = h.clone();
            double[] got = h.clone();
            assertTrue(cpu.inverseCholeskyUpper(want, n), "cpu n=" + n);
            assertTrue(gpu.inverseCholeskyUpper(got, n), gpu.name() + " n=" + n);
            if (!Arrays.equals(want, got)) {
                assertArrayEquals(want, got, 0.0, "U at n=" + n); // names the first element that differs
                assertTrue(false, "U at n=" + n + " differs in the sign of a zero");
            }
        }
        double[] u = dampedHessian(300);
        assertTrue(gpu.inverseCholeskyUpper(u, 300));
        assertTrue(u[299 * 300 + 299] > 0 && u[300] == 0 && u[1] != 0,
                "U is upper with a positive diagonal");
    }

    @Test
    void aSingularHessianIsReDampedAsOnTheCpu() {
        for (int n : new int[]{40, 200, 300}) {
            int rows = n / 4; // rank ≤ n/4 and dead columns left at 0: singular, not definite
            double[] h = hessian(activations(rows, n, 11L * n, 0, n / 2, n - 1), rows, n, false);
            int[] cpuTries = new int[1];
            int[] gpuTries = new int[1];
            double[] want = damped(cpu, h, n, cpuTries);
            double[] got = damped(gpu, h, n, gpuTries);
            assertTrue(want != null && cpuTries[0] > 1, "the CPU needed damping at n=" + n + ": " + cpuTries[0]);
            assertEquals(cpuTries[0], gpuTries[0], "tries at n=" + n);
            assertTrue(Arrays.equals(want, got), "the re-damped U at n=" + n + " differs in its bits");
        }
    }

    @Test
    void notPositiveDefiniteIsReportedAsTheCpuReportsIt() {
        int n = 300;
        double[] h = dampedHessian(n);
        double[] neg = h.clone();
        neg[200 * n + 200] = -1; // fails in the second panel of the reversed order
        assertFalse(cpu.inverseCholeskyUpper(neg.clone(), n));
        assertFalse(gpu.inverseCholeskyUpper(neg.clone(), n));
        double[] nan = h.clone();
        nan[5 * n + 7] = Double.NaN;
        nan[7 * n + 5] = Double.NaN;
        assertFalse(cpu.inverseCholeskyUpper(nan.clone(), n));
        assertFalse(gpu.inverseCholeskyUpper(nan.clone(), n));
        assertFalse(gpu.inverseCholeskyUpper(new double[4], 2));
        // and a good matrix right after a failure still factors (the flag is per call)
        double[] want = h.clone();
        double[] ok = h.clone();
        assertTrue(cpu.inverseCholeskyUpper(want, n));
        assertTrue(gpu.inverseCholeskyUpper(ok, n));
        assertTrue(Arrays.equals(want, ok));
    }

    @Test
    void theDeviceBuffersAreCountedAndReleased() {
        gpu.resetPeakDeviceBytes();
        long before = gpu.peakDeviceBytes();
        int n = 200;
        assertTrue(gpu.inverseCholeskyUpper(dampedHessian(n), n));
        assertTrue(gpu.peakDeviceBytes() >= before + (long) n * n * Double.BYTES, "the n x n buffer is counted");
        gpu.resetPeakDeviceBytes();
        assertEquals(before, gpu.peakDeviceBytes(), "released");
    }
}
