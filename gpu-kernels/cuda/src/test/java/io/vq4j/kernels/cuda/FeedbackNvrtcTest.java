package io.vq4j.kernels.cuda;

import io.vq4j.kernels.KernelSource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA dialect of feedback.cl (GPTQ's and GPTVQ's in-block steps), compiled by the machine's NVRTC with
 * the backend's options (no GPU needed): the kernel is in the module, none of its multiplies and
 * adds is fused (the CPU's code has no fma there), its divisions are IEEE-rounded double
 * divisions (the correctly rounded float quotients) and a CUBIN assembles.
 */
class FeedbackNvrtcTest {
    @BeforeAll
    static void find() {
        NvrtcTest.find();
    }

    @Test
    void theInBlockKernelCompilesWithoutContraction() {
        Nvrtc nvrtc = NvrtcTest.nvrtc;
        for (int cc : new int[]{80, 90}) {
            String ptx = new String(Cuda.compileKernels(nvrtc, cc, 256), StandardCharsets.US_ASCII);
            String k = NvrtcTest.entry(ptx, CudaFeedback.KERNEL);
            assertFalse(k.contains("fma.rn.f32") || k.contains("fma.rn.f64"), "a fused multiply-add in " + k.length()
                    + " chars of gptq_scalar_block");
            assertTrue(k.contains("div.rn.f64"), "double divisions, IEEE-rounded");
            assertFalse(k.contains("div.approx") || k.contains("div.full"), "an approximate division");
            assertTrue(k.contains("mul.rn.f64") && k.contains("sub.rn.f32"), "the row update: a double product, a float subtraction");
            assertTrue(k.contains("cvt.rn.f32.f64"), "rounded to float");
        }
        for (int cc : new int[]{80, 90}) { // gptvq_block: the distance's one fma per dimension, nothing else fused
            String ptx = new String(Cuda.compileKernels(nvrtc, cc, 256), StandardCharsets.US_ASCII);
            String k = NvrtcTest.entry(ptx, CudaFeedback.VECTOR_KERNEL);
            assertTrue(k.contains("fma.rn.f32"), "the distance's fused multiply-add");
            assertFalse(k.contains("fma.rn.f64"), "a fused double multiply-add in the substitution or the feedback");
            assertTrue(k.contains("div.rn.f64"), "double divisions, IEEE-rounded");
            assertFalse(k.contains("div.approx") || k.contains("div.full"), "an approximate division");
            assertTrue(k.contains("bar.sync") || k.contains("barrier.sync"), "the work-group's barriers");
            assertTrue(k.contains("mul.rn.f64") && k.contains("add.rn.f64") && k.contains("sub.rn.f32"),
                    "the feedback: double products and sums, a float subtraction");
        }
        byte[] cubin = nvrtc.compileCubin(KernelSource.cuda(256), "vq.cu",
                List.of("--gpu-architecture=sm_" + nvrtc.architectureFor(80), "-fmad=false", "-default-device"));
        assertTrue(cubin.length > 1000 && cubin[1] == 'E' && cubin[2] == 'L' && cubin[3] == 'F', "an ELF CUBIN");
    }
}
