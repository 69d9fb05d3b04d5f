package io.vq4j.kernels.cuda;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ResidentParityTest;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Resident matrices on the first CUDA device against the CPU backend (cuBLAS sums in its own
 * order: the array gemm's tolerance). Without a device they skip, unless VQ_REQUIRE_CUDA=1.
 */
class CudaResidentTest extends ResidentParityTest {
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

    @Override
    protected float tolerance(float ref) {
        return 1e-4f * (1 + Math.abs(ref));
    }
}
