package io.vq4j.kernels.opencl;

import io.vq4j.kernels.linalg.Gram;
import io.vq4j.kernels.linalg.InverseCholesky;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * accumulateGram and inverseCholeskyUpper on the first OpenCL device (PoCL in CI) against the
 * CPU's blocked code: bit for bit (assertArrayEquals on doubles compares the bits' values, and
 * the sign of zeros through Double.equals), on sizes that cut the panels (NB = 128), the
 * inverse's chunks (KC = 256) and the Gram's row chunks (256) in awkward places; dead columns;
 * not positive definite. Without an OpenCL runtime they skip, unless VQ_REQUIRE_OPENCL=1.
 */
class OpenClLinalgTest {
    static OpenClBackend dev;

    @BeforeAll
    static void open() {
        if (OpenCl.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
                fail("VQ_REQUIRE_OPENCL=1 but " + OpenCl.unavailableReason());
            }
            assumeTrue(false, "no OpenCL device: " + OpenCl.unavailableReason());
        }
        dev = new OpenClBackend(0);
        assumeTrue(dev.info().fp64(), "the device has no fp64 (then the CPU's code runs)");
    }

    @AfterAll
    static void close() {
        if (dev != null) {
            dev.close();
        }
    }

    /** Heavy-tailed activations, some columns dead (always 0). */
    static float[] activations(int rows, int dim, long seed, int... dead) {
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

    /** H as HessianAccumulator makes it: 2/n XᵀX mirrored, diag 1 for dead columns, damped 1 %. */
    static double[] hessian(float[] x, int rows, int dim) {
        double[] s = new double[dim * dim];
        Gram.accumulate(x, rows, dim, s);
        double[] h = new double[dim * dim];
        double mean = 0;
        for (int i = 0; i < dim; i++) {
            for (int j = 0; j <= i; j++) {
                h[i * dim + j] = h[j * dim + i] = s[i * dim + j] * 2.0 / rows;
            }
        }
        for (int i = 0; i < dim; i++) {
            if (h[i * dim + i] == 0) {
                h[i * dim + i] = 1;
            }
            mean += h[i * dim + i];
        }
        for (int i = 0; i < dim; i++) {
            h[i * dim + i] += 0.01 * mean / dim;
        }
        return h;
    }

    @Test
    void theGramIsTheCpusBitForBit() {
        int[][] shapes = {{1, 1}, {3, 17}, {255, 16}, {256, 33}, {300, 130}, {513, 64}, {40, 257}};
        for (int[] sh : shapes) {
            int rows = sh[0], dim = sh[1];
            float[] x = activations(rows, dim, rows * 31L + dim, dim / 2);
            double[] h0 = new double[dim * dim];
            SplittableRandom g = new SplittableRandom(dim);
            for (int i = 0; i < h0.length; i++) {
                h0[i] = g.nextDouble() * 100; // a running sum; its upper triangle must stay as it is
            }
            double[] want = h0.clone();
            double[] got = h0.clone();
            Gram.accumulate(x, rows, dim, want);
            dev.accumulateGram(x, rows, dim, got);
            assertArrayEquals(want, got, 0.0, "Gram " + rows + "x" + dim);
            assertTrue(Arrays.equals(want, got), "Gram " + rows + "x" + dim + " (bits)");
        }
    }

    @Test
    void theFactorIsTheCpusBitForBit() {
        for (int n : new int[]{1, 2, 15, 127, 128, 129, 200, 300, 517}) {
            int rows = Math.max(8, n / 2); // rows < dim: the damping alone keeps H definite
            double[] h = hessian(activations(rows, n, n, n / 3, n - 1), rows, n);
            double[] want = h.clone();
            double[] got = h.clone();
            assertTrue(InverseCholesky.inPlace(want, n), "cpu n=" + n);
            assertTrue(dev.inverseCholeskyUpper(got, n), "opencl n=" + n);
            assertTrue(Arrays.equals(want, got), "U at n=" + n + " differs in its bits");
            assertTrue(want[(n - 1) * n + n - 1] > 0, "U is upper with a positive diagonal");
        }
    }

    @Test
    void notPositiveDefiniteIsReportedAsTheCpuReportsIt() {
        int n = 300;
        double[] h = hessian(activations(400, n, 7), 400, n);
        double[] neg = h.clone();
        neg[200 * n + 200] = -1; // fails in the second panel of the reversed order
        assertFalse(InverseCholesky.inPlace(neg.clone(), n));
        assertFalse(dev.inverseCholeskyUpper(neg.clone(), n));
        double[] nan = h.clone();
        nan[5 * n + 7] = Double.NaN;
        nan[7 * n + 5] = Double.NaN;
        assertFalse(InverseCholesky.inPlace(nan.clone(), n));
        assertFalse(dev.inverseCholeskyUpper(nan.clone(), n));
        double[] zero = new double[4];
        assertFalse(dev.inverseCholeskyUpper(zero, 2));
        // and a good matrix right after a failure still factors (the flag is per call)
        double[] ok = h.clone();
        double[] want = h.clone();
        assertTrue(InverseCholesky.inPlace(want, n));
        assertTrue(dev.inverseCholeskyUpper(ok, n));
        assertTrue(Arrays.equals(want, ok));
    }

    @Test
    void theDeviceBuffersAreCountedAndReleased() {
        dev.resetPeakDeviceBytes();
        long before = dev.peakDeviceBytes();
        int n = 200;
        double[] h = hessian(activations(300, n, 3), 300, n);
        assertTrue(dev.inverseCholeskyUpper(h, n));
        assertTrue(dev.peakDeviceBytes() >= before + (long) n * n * Double.BYTES, "the n x n buffer is counted");
        dev.resetPeakDeviceBytes();
        assertTrue(dev.peakDeviceBytes() == before, "released: " + dev.peakDeviceBytes() + " vs " + before);
    }
}
