package io.vq4j.kernels.cuda;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.GpuParityTest;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The parity tests on the first CUDA device. Without one (no driver, or no GPU) they skip with
 * the reason, unless VQ_REQUIRE_CUDA=1 (set it on a GPU machine, so that a broken driver setup
 * fails instead of skipping).
 */
class CudaBackendTest extends GpuParityTest {
    @Override
    protected Backend open() {
        if (Cuda.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_CUDA"))) {
                fail("VQ_REQUIRE_CUDA=1 but " + Cuda.unavailableReason());
            }
            System.err.println("CudaBackendTest: every test skipped: " + Cuda.unavailableReason());
            assumeTrue(false, Cuda.unavailableReason());
        }
        return new CudaBackend(0);
    }

    @Override
    protected Backend openLimited(long bytes) {
        CudaBackend b = new CudaBackend(0);
        b.limitCallBytes(bytes);
        return b;
    }

    @Test
    void theDeviceDescribesItself() {
        CudaBackend b = (CudaBackend) gpu;
        Cuda.DeviceInfo d = b.info();
        assertTrue(d.computeUnits() > 0 && d.globalMemory() > 0 && d.cc() >= 50, d.toString());
        assertTrue(b.name().startsWith("cuda:0 "), b.name());
        assertTrue(b.gemmProvider().startsWith("cuBLAS"), "cuBLAS is found beside the driver: " + b.gemmProvider());
    }
}
