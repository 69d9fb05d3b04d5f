package io.vq4j.kernels.cuda;

import io.vq4j.kernels.linalg.LinalgKernels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA dialect of linalg.cl (the Gram and the factor), compiled by the machine's NVRTC with
 * -fmad=false (no GPU needed): every kernel is there, the products' sums are the fma the source
 * asks for, and the unblocked diagonal steps keep their multiplies and subtractions apart.
 */
class LinalgNvrtcTest {
    @BeforeAll
    static void find() {
        NvrtcTest.find();
    }

    @Test
    void theLinearAlgebraKernelsCompileWithoutContraction() {
        Nvrtc nvrtc = NvrtcTest.nvrtc;
        for (int cc : new int[]{80, 90}) {
            int arch = nvrtc.architectureFor(cc);
            String ptx = new String(nvrtc.compile(LinalgKernels.cuda(), "linalg.cu",
                    List.of("--gpu-architecture=compute_" + arch, "-fmad=false", "-default-device")),
                    StandardCharsets.US_ASCII);
            for (String k : List.of(LinalgKernels.PRODUCT_D, LinalgKernels.PRODUCT_F, LinalgKernels.POTF2,
                    LinalgKernels.TRTRI, LinalgKernels.COPY, LinalgKernels.ZERO_UPPER)) {
                NvrtcTest.entry(ptx, k);
            }
            assertTrue(NvrtcTest.entry(ptx, LinalgKernels.PRODUCT_D).contains("fma.rn.f64"), "product sums by fma");
            String potf2 = NvrtcTest.entry(ptx, LinalgKernels.POTF2);
            assertFalse(potf2.contains("fma.rn.f64"), "potf2 has a fused multiply-add");
            assertTrue(potf2.contains("mul.rn.f64") && potf2.contains("sqrt.rn.f64"), "potf2");
            assertFalse(NvrtcTest.entry(ptx, LinalgKernels.TRTRI).contains("fma.rn.f64"), "trtri");
        }
        byte[] cubin = nvrtc.compileCubin(LinalgKernels.cuda(), "linalg.cu",
                List.of("--gpu-architecture=sm_" + nvrtc.architectureFor(80), "-fmad=false", "-default-device"));
        assertTrue(cubin.length > 1000 && cubin[1] == 'E' && cubin[2] == 'L' && cubin[3] == 'F', "an ELF CUBIN");
    }
}
