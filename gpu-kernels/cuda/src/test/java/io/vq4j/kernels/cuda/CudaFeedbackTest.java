package io.vq4j.kernels.cuda;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.feedback.FeedbackParityTest;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * gptqBlock on the first CUDA device: the CPU's bits ({@link FeedbackParityTest}). Needs a GPU
 * and cuBLAS (without cuBLAS the resident matrices are host arrays and the CPU's code runs, so
 * there is nothing to compare): it skips, saying which is missing, unless VQ_REQUIRE_CUDA=1. Not
 * yet run: no GPU has been lent to this project's sessions.
 */
class CudaFeedbackTest extends FeedbackParityTest {
    @Override
    protected Backend open() {
        return openWithCublas("gptqBlock");
    }

    /** The first CUDA device with cuBLAS, or a skip saying which is missing (a failure with VQ_REQUIRE_CUDA=1). */
    static Backend openWithCublas(String op) {
        if (Cuda.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_CUDA"))) {
                fail("VQ_REQUIRE_CUDA=1 but " + Cuda.unavailableReason());
            }
            assumeTrue(false, "no CUDA device, the GPU parity of " + op + " is not run: " + Cuda.unavailableReason());
        }
        CudaBackend b = new CudaBackend(0);
        if (!b.gemmProvider().startsWith("cuBLAS")) {
            String why = b.gemmProvider();
            b.close();
            if ("1".equals(System.getenv("VQ_REQUIRE_CUDA"))) {
                fail("VQ_REQUIRE_CUDA=1 but cuBLAS is missing: " + why);
            }
            assumeTrue(false, "no cuBLAS, so no resident matrices on the device: " + why);
        }
        return b;
    }
}
