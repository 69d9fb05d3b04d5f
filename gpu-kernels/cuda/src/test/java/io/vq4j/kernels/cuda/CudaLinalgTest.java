package io.vq4j.kernels.cuda;

import io.vq4j.core.InputException;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.linalg.LinalgParityTest;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Gram and the factor on the first CUDA device against the CPU: bit for bit on the default
 * path (linalg.cl in the CPU's order, {@link LinalgParityTest}); with {@value CudaLinalg#FACTOR_PROPERTY}=cusolver
 * (cuSOLVER's potrf and trtri, which sum in their own order) within a relative Frobenius distance of
 * 1e-10 of the CPU's U (the bound Backend#inverseCholeskyUpper states for every backend), U upper with
 * exact zeros below and a positive diagonal, and not positive definite or NaN reported as false.
 * Without a device every test skips with the reason, unless VQ_REQUIRE_CUDA=1.
 */
class CudaLinalgTest extends LinalgParityTest {
    @Override
    protected Backend open() {
        if (Cuda.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_CUDA"))) {
                fail("VQ_REQUIRE_CUDA=1 but " + Cuda.unavailableReason());
            }
            System.err.println("CudaLinalgTest: every test skipped: " + Cuda.unavailableReason());
            assumeTrue(false, Cuda.unavailableReason());
        }
        return new CudaBackend(0);
    }

    /** Runs body with the factor on cuSOLVER (skips when there is none, unless VQ_REQUIRE_CUDA=1: fails). */
    private void withCusolver(Runnable body) {
        String old = System.getProperty(CudaLinalg.FACTOR_PROPERTY);
        System.setProperty(CudaLinalg.FACTOR_PROPERTY, "cusolver");
        try {
            assertTrue(gpu.inverseCholeskyUpper(new double[]{4}, 1));
            String missing = Cusolver.missing(Cuda.open(0));
            if (!missing.isEmpty()) {
                if ("1".equals(System.getenv("VQ_REQUIRE_CUDA"))) {
                    fail("VQ_REQUIRE_CUDA=1 but " + missing);
                }
                assumeTrue(false, missing);
            }
            body.run();
        } finally {
            if (old == null) {
                System.clearProperty(CudaLinalg.FACTOR_PROPERTY);
            } else {
                System.setProperty(CudaLinalg.FACTOR_PROPERTY, old);
            }
        }
    }

    @Test
    void cusolversFactorIsTheCpusWithin1e10() {
        withCusolver(() -> {
            double worst = 0;
            for (int n : new int[]{1, 2, 17, 127, 128, 129, 300, 517, 1024, 2000}) {
                double[] h = dampedHessian(n);
                double[] want = h.clone();
                double[] got = h.clone();
                assertTrue(cpu.inverseCholeskyUpper(want, n), "cpu n=" + n);
                assertTrue(gpu.inverseCholeskyUpper(got, n), "cuSOLVER n=" + n);
                for (int i = 0; i < n; i++) {
                    assertTrue(got[i * n + i] > 0, "positive diagonal at n=" + n);
                    for (int j = 0; j < i; j++) {
                        assertTrue(got[i * n + j] == 0, "zero below the diagonal at (" + i + ", " + j + "), n=" + n);
                    }
                }
                double d = relativeFrobenius(got, want);
                worst = Math.max(worst, d);
                assertTrue(d <= 1e-10, "cuSOLVER's U at n=" + n + " is " + d + " from the CPU's");
            }
            System.err.println("CudaLinalgTest: cuSOLVER vs CPU, worst relative Frobenius " + worst);
        });
    }

    @Test
    void cusolverReportsNotPositiveDefiniteAndReDampsAsTheCpu() {
        withCusolver(() -> {
            int n = 300;
            double[] neg = dampedHessian(n);
            neg[200 * n + 200] = -1;
            assertFalse(gpu.inverseCholeskyUpper(neg, n));
            double[] nan = dampedHessian(n);
            nan[5 * n + 7] = Double.NaN;
            nan[7 * n + 5] = Double.NaN;
            assertFalse(gpu.inverseCholeskyUpper(nan, n));
            double[] h = hessian(activations(50, 200, 5, 0, 100, 199), 50, 200, false);
            int[] cpuTries = new int[1];
            int[] gpuTries = new int[1];
            double[] want = damped(cpu, h, 200, cpuTries);
            double[] got = damped(gpu, h, 200, gpuTries);
            assertTrue(cpuTries[0] == gpuTries[0] && cpuTries[0] > 1, "tries " + cpuTries[0] + " vs " + gpuTries[0]);
            assertTrue(relativeFrobenius(got, want) <= 1e-10, "re-damped U " + relativeFrobenius(got, want));
        });
    }

    @Test
    void aWrongFactorModeIsOneClearError() {
        String old = System.getProperty(CudaLinalg.FACTOR_PROPERTY);
        System.setProperty(CudaLinalg.FACTOR_PROPERTY, "lapack");
        try {
            InputException e = assertThrows(InputException.class,
                    () -> gpu.inverseCholeskyUpper(new double[]{4}, 1));
            assertTrue(e.getMessage().contains("exact or cusolver"), e.getMessage());
        } finally {
            if (old == null) {
                System.clearProperty(CudaLinalg.FACTOR_PROPERTY);
            } else {
                System.setProperty(CudaLinalg.FACTOR_PROPERTY, old);
            }
        }
    }
}
