package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.linalg.LinalgParityTest;


/**
 * accumulateGram and inverseCholeskyUpper on the first OpenCL device (PoCL in CI) against the
 * CPU's blocked code, bit for bit ({@link LinalgParityTest}: the Gram's row chunks, every n up to
 * 300 and 517, dead columns, re-damping, not positive definite, NaN, device bytes counted).
 * Without an OpenCL runtime they skip, unless VQ_REQUIRE_OPENCL=1.
 */
class OpenClLinalgTest extends LinalgParityTest {
    @Override
    protected Backend open() {
        return OpenClTestDevice.openWithFp64();
    }
}
