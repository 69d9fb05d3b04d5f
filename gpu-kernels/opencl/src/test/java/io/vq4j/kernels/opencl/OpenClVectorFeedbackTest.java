package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.feedback.VectorFeedbackParityTest;

/**
 * gptvqBlock on the first OpenCL device (PoCL in CI): the CPU's bits ({@link VectorFeedbackParityTest}).
 * Without an OpenCL runtime it skips, unless VQ_REQUIRE_OPENCL=1; a device without fp64 runs the
 * CPU's code, so it skips too.
 */
class OpenClVectorFeedbackTest extends VectorFeedbackParityTest {
    @Override
    protected Backend open() {
        return OpenClTestDevice.openWithFp64();
    }
}
