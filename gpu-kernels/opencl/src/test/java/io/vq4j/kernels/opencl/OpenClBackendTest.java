package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.GpuParityTest;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The parity tests on the first OpenCL device (PoCL in CI). Without an OpenCL runtime they skip,
 * unless VQ_REQUIRE_OPENCL=1 (as .ci/run sets it).
 */
class OpenClBackendTest extends GpuParityTest {
    @Override
    protected Backend open() {
        return OpenClTestDevice.open();
    }

    @Override
    protected Backend openLimited(long bytes) {
        OpenClBackend b = new OpenClBackend(0);
        b.limitCallBytes(bytes);
        return b;
    }

    @Test
    void devicesAreListed() {
        OpenCl.DeviceInfo d = OpenCl.devices().get(0);
        assertTrue(d.computeUnits() > 0 && d.globalMemory() > 0, d.toString());
        assertTrue(gpu.name().startsWith("opencl:0 "), gpu.name());
    }
}
