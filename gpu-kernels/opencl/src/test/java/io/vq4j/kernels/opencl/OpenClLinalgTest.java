package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.linalg.LinalgParityTest;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * accumulateGram and inverseCholeskyUpper on the first OpenCL device (PoCL in CI) against the
 * CPU's blocked code, bit for bit ({@link LinalgParityTest}: the Gram's row chunks, every n up to
 * 300 and 517, dead columns, re-damping, not positive definite, NaN, device bytes counted).
 * Without an OpenCL runtime they skip, unless VQ_REQUIRE_OPENCL=1.
 */
class OpenClLinalgTest extends LinalgParityTest {
    @Override
    protected Backend open() {
        if (OpenCl.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
                fail("VQ_REQUIRE_OPENCL=1 but " + OpenCl.unavailableReason());
            }
            assumeTrue(false, "no OpenCL device: " + OpenCl.unavailableReason());
        }
        OpenClBackend dev = new OpenClBackend(0);
        if (!dev.info().fp64()) {
            dev.close();
            assumeTrue(false, "the device has no fp64 (then the CPU's code runs)");
        }
        return dev;
    }
}
