package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vq4j.kernels.cuda.Cuda;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * gptq quantized on the first CUDA device, its Hessians (accumulateGram) and factor
 * (inverseCholeskyUpper) on the device: by default linalg.cl in the CPU's order (H and U the CPU's
 * bits; the lazy updates are cuBLAS's gemm), and with vq.cuda.factor=cusolver cuSOLVER's potrf and
 * trtri. Either way the packed stories260K's perplexity is within 0.1 % of the model quantized on
 * the CPU. Skips without a CUDA device, unless VQ_REQUIRE_CUDA=1 (scripts/gpu-bundle's run.sh).
 */
class GptqCudaCliTest {
    @BeforeAll
    static void needCuda() {
        if (Cuda.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_CUDA"))) {
                fail("VQ_REQUIRE_CUDA=1 but " + Cuda.unavailableReason());
            }
            System.err.println("GptqCudaCliTest: skipped: " + Cuda.unavailableReason());
            assumeTrue(false, Cuda.unavailableReason());
        }
    }

    @Test
    void gptqOnCudaMatchesTheCpuInPerplexityOnBothFactorPaths(@TempDir Path dir) throws Exception {
        String[] gptq = {"--method", "gptq", "--bits", "4", "--group-size", "32", "--block-size", "16"};
        double cpu = DeviceCliTest.ppl(DeviceCliTest.quantize(dir.resolve("cpu"), "cpu", gptq), "cpu").path("ppl")
                .asDouble();
        double exact = DeviceCliTest.ppl(DeviceCliTest.quantize(dir.resolve("cuda"), "cuda", gptq), "cpu")
                .path("ppl").asDouble();
        String old = System.getProperty("vq.cuda.factor");
        System.setProperty("vq.cuda.factor", "cusolver");
        double cusolver;
        try {
            cusolver = DeviceCliTest.ppl(DeviceCliTest.quantize(dir.resolve("cusolver"), "cuda", gptq), "cpu")
                    .path("ppl").asDouble();
        } finally {
            if (old == null) {
                System.clearProperty("vq.cuda.factor");
            } else {
                System.setProperty("vq.cuda.factor", old);
            }
        }
        System.err.println("GptqCudaCliTest: ppl cpu " + cpu + ", cuda " + exact + ", cuda+cuSOLVER " + cusolver);
        assertTrue(cpu > 1 && Math.abs(exact / cpu - 1) < 1e-3, "gptq quantized on cuda " + exact + " vs cpu " + cpu);
        assertTrue(Math.abs(cusolver / cpu - 1) < 1e-3, "gptq with cuSOLVER's factor " + cusolver + " vs cpu " + cpu);
    }
}
