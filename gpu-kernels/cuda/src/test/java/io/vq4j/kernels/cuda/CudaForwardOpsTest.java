package io.vq4j.kernels.cuda;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOpsParityTest;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The forward ops (vq.cl's fw_* kernels through NVRTC) on the first CUDA device against the CPU
 * backend's. Without a device they skip, unless VQ_REQUIRE_CUDA=1.
 */
class CudaForwardOpsTest extends ForwardOpsParityTest {
    @Override
    protected Backend open() {
        if (Cuda.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_CUDA"))) {
                fail("VQ_REQUIRE_CUDA=1 but " + Cuda.unavailableReason());
            }
            assumeTrue(false, Cuda.unavailableReason());
        }
        return new CudaBackend(0);
    }
}
