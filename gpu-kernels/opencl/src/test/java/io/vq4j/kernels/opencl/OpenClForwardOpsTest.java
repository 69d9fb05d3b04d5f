package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOpsParityTest;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The forward ops (vq.cl's fw_* kernels) on the first OpenCL device (PoCL in CI) against the CPU
 * backend's. Without an OpenCL runtime they skip, unless VQ_REQUIRE_OPENCL=1.
 */
class OpenClForwardOpsTest extends ForwardOpsParityTest {
    @Override
    protected Backend open() {
        if (OpenCl.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
                fail("VQ_REQUIRE_OPENCL=1 but " + OpenCl.unavailableReason());
            }
            assumeTrue(false, "no OpenCL device: " + OpenCl.unavailableReason());
        }
        return new OpenClBackend(0);
    }
}
