package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.ResidentParityTest;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Resident matrices on the first OpenCL device (PoCL in CI) against the CPU backend. The gemm
 * (sgemm.cl) is the CPU's bits (OpenClGemmTest checks bits); the tolerance here (1e-4 relative)
 * is the array gemm's parity tolerance, which CLBlast (-Dvq.opencl.gemm=clblast) also meets. Without an OpenCL runtime they skip, unless VQ_REQUIRE_OPENCL=1.
 */
class OpenClResidentTest extends ResidentParityTest {
    @Override
    protected Backend open() {
        return OpenClTestDevice.open();
    }

    @Override
    protected float tolerance(float ref) {
        return 1e-4f * (1 + Math.abs(ref));
    }

    @Test
    void residentMatricesAreCountedUntilClosed() {
        dev.resetPeakDeviceBytes();
        long before = ((OpenClBackend) dev).peakDeviceBytes();
        ResidentMatrix m = dev.resident(new float[100 * 30], 100, 30);
        assertEquals(before + 100 * 30 * 4L, dev.peakDeviceBytes());
        m.close();
        m.close(); // once
        assertThrows(IllegalStateException.class, () -> dev.read(m, 0, 0, 1, 1, new float[1], 0, 1));
    }
}
