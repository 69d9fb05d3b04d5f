package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOpsParityTest;


/**
 * The forward ops (vq.cl's fw_* kernels) on the first OpenCL device (PoCL in CI) against the CPU
 * backend's. Without an OpenCL runtime they skip, unless VQ_REQUIRE_OPENCL=1.
 */
class OpenClForwardOpsTest extends ForwardOpsParityTest {
    @Override
    protected Backend open() {
        return OpenClTestDevice.open();
    }
}
