package io.vq4j.kernels.cuda;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.feedback.VectorFeedbackParityTest;

/**
 * gptvqBlock on the first CUDA device: the CPU's bits ({@link VectorFeedbackParityTest}). Needs a
 * GPU and cuBLAS (without cuBLAS the resident matrices are host arrays and the CPU's code runs):
 * it skips, saying which is missing, unless VQ_REQUIRE_CUDA=1. Not yet run: no GPU has been lent
 * to this project's sessions.
 */
class CudaVectorFeedbackTest extends VectorFeedbackParityTest {
    @Override
    protected Backend open() {
        return CudaFeedbackTest.openWithCublas("gptvqBlock");
    }
}
