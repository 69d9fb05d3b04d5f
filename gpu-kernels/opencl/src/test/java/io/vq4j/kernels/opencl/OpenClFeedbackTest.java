package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.feedback.FeedbackParityTest;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * gptqBlock on the first OpenCL device (PoCL in CI): the CPU's bits ({@link FeedbackParityTest}).
 * Without an OpenCL runtime it skips, unless VQ_REQUIRE_OPENCL=1; a device without fp64 runs the
 * CPU's code, so it skips too.
 */
class OpenClFeedbackTest extends FeedbackParityTest {
    @Override
    protected Backend open() {
        if (OpenCl.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
                fail("VQ_REQUIRE_OPENCL=1 but " + OpenCl.unavailableReason());
            }
            assumeTrue(false, "no OpenCL device: " + OpenCl.unavailableReason());
        }
        OpenClBackend b = new OpenClBackend(0);
        if (!b.info().fp64()) {
            b.close();
            assumeTrue(false, "the device has no fp64 (then the CPU's code runs)");
        }
        return b;
    }
}
