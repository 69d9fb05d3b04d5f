package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.feedback.FeedbackParityTest;


/**
 * gptqBlock on the first OpenCL device (PoCL in CI): the CPU's bits ({@link FeedbackParityTest}).
 * Without an OpenCL runtime it skips, unless VQ_REQUIRE_OPENCL=1; a device without fp64 runs the
 * CPU's code, so it skips too.
 */
class OpenClFeedbackTest extends FeedbackParityTest {
    @Override
    protected Backend open() {
        return OpenClTestDevice.openWithFp64();
    }
}
