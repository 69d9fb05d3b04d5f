package io.vq4j.kernels.cuda;

import io.vq4j.kernels.KernelSource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CUDA dialect of the kernels, compiled by the machine's NVRTC (no GPU needed). Skips
 * without libnvrtc, unless VQ_REQUIRE_NVRTC=1 (as .ci/run sets it where it installs NVRTC).
 */
class NvrtcTest {
    static Nvrtc nvrtc;

    @BeforeAll
    static void find() {
        nvrtc = Nvrtc.get();
        if (nvrtc == null) {
            if ("1".equals(System.getenv("VQ_REQUIRE_NVRTC"))) {
                fail("VQ_REQUIRE_NVRTC=1 but " + Nvrtc.unavailableReason());
            }
            assumeTrue(false, Nvrtc.unavailableReason());
        }
    }

    /** The body of one .entry in the PTX. */
    static String entry(String ptx, String name) {
        int at = ptx.indexOf(".entry " + name + "(");
        assertTrue(at >= 0, "PTX has no entry " + name);
        int end = ptx.indexOf(".entry ", at + 7);
        return ptx.substring(at, end < 0 ? ptx.length() : end);
    }

    @Test
    void everyKernelCompilesForEverySupportedArchitecture() {
        int[] archs = nvrtc.supportedArchitectures();
        assertTrue(archs.length > 0, "NVRTC " + nvrtc.version() + " lists no architectures");
        for (int cc : new int[]{archs[0], 80, 90, 120}) {
            int arch = nvrtc.architectureFor(Math.max(cc, archs[0]));
            String ptx = new String(Cuda.compileKernels(nvrtc, Math.max(cc, archs[0]), 256), StandardCharsets.US_ASCII);
            assertTrue(ptx.contains(".target sm_" + arch), "target sm_" + arch);
            for (String k : List.of("accumulate_partials", "reduce_partials", "packed_dequant", "packed_matmul",
                    "packed_matvec", "fw_embed", "fw_rmsnorm", "fw_rope", "fw_attention", "fw_silu_mul", "fw_add",
                    "fw_add_bias", "fw_nll", "fw_copy", "fw_rmsnorm_rows", CudaBackend.ASSIGN_GEMM_KERNEL)) {
                entry(ptx, k);
            }
            for (int d = 1; d <= 16; d++) {
                entry(ptx, "assign_nearest_" + d);
            }
            for (int hd : new int[]{0, 8, 16, 32, 64, 128}) {
                String name = KernelSource.attentionKernel(hd == 0 ? 20 : hd);
                // the tiled attention's key and value tiles in shared memory, 2048 floats each
                assertTrue(entry(ptx, name).contains("[8192]"), name + " shared K/V tiles");
            }
            // the tile of centroids sits in shared memory: 256 centroids x 16 floats at d = 16
            assertTrue(entry(ptx, "assign_nearest_16").contains("[16384]") && ptx.contains(".shared .align 4 .b8"),
                    "shared tile");
            // the batched matmul's tiles: 32 columns x 16 rows of W and 64 tokens x 32 columns of X, and
            // the codebooks of the tile's group (MATMUL_CODEBOOK_FLOATS floats)
            assertTrue(entry(ptx, "packed_matmul").contains("[2048]") && entry(ptx, "packed_matmul").contains("[8192]"),
                    "shared W and X tiles");
            assertTrue(entry(ptx, "packed_matmul").contains("[" + 4 * KernelSource.MATMUL_CODEBOOK_FLOATS + "]"),
                    "shared codebooks");
        }
    }

    @Test
    void theKernelsAssembleToMachineCodeInlinePtxIncluded() {
        // PTX is checked by the assembler only when machine code is made (on a GPU, by the
        // driver's JIT); a CUBIN runs it here. The fp16 load is inline PTX.
        int arch = nvrtc.architectureFor(80);
        byte[] cubin = nvrtc.compileCubin(KernelSource.cuda(256), "vq.cu",
                List.of("--gpu-architecture=sm_" + arch, "-fmad=false", "-default-device"));
        assertTrue(cubin.length > 1000 && cubin[0] == 0x7f && cubin[1] == 'E' && cubin[2] == 'L' && cubin[3] == 'F',
                "an ELF CUBIN");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> nvrtc.compileCubin(
                "extern \"C\" __global__ void f(float* p) { float x; asm(\"cvt.f32.f99 %0, %1;\" : \"=f\"(x) : \"h\"((unsigned short) 1)); *p = x; }",
                "badasm.cu", List.of("--gpu-architecture=sm_" + arch)));
        assertTrue(e.getMessage().contains("could not compile badasm.cu"), e.getMessage());
    }

    @Test
    void nothingIsContractedIntoAFusedMultiplyAdd() {
        String ptx = new String(Cuda.compileKernels(nvrtc, 80, 256), StandardCharsets.US_ASCII);
        // the packed kernels and the unweighted distance have no fma of their own: with
        // -fmad=false every a*b + c stays a mul and an add, as on the CPU backend
        for (String k : List.of("packed_dequant", "packed_matmul", "packed_matvec", "accumulate_partials", "fw_rope")) {
            String body = entry(ptx, k);
            assertFalse(body.contains("fma.rn"), k + " has a fused multiply-add");
            assertTrue(body.contains("mul.") || body.contains("mul.f"), k);
        }
        // the distance asks for fma(diff, diff, acc) explicitly (weighted: fma(w * diff, diff, acc)),
        // as the CPU backend does: the weighted kernel has one mul and one fma per dimension and lane
        for (int d : new int[]{1, 4, 16}) {
            assertTrue(entry(ptx, "assign_nearest_" + d).contains("fma.rn.f32"), "assign_nearest_" + d);
        }
        // and the same source without -fmad=false does contract, so the check above can fail
        String contracted = new String(nvrtc.compile(KernelSource.cuda(256), "vq.cu",
                List.of("--gpu-architecture=compute_" + nvrtc.architectureFor(80))), StandardCharsets.US_ASCII);
        assertTrue(entry(contracted, "packed_matmul").contains("fma.rn.f32"));
    }

    @Test
    void theArchitectureIsTheNewestNotNewerThanTheDevice() {
        int[] archs = nvrtc.supportedArchitectures();
        int newest = archs[archs.length - 1];
        assertEquals(newest, nvrtc.architectureFor(newest + 50));
        assertEquals(archs[0], nvrtc.architectureFor(archs[0]));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> nvrtc.architectureFor(archs[0] - 1));
        assertTrue(e.getMessage().contains("cannot compile for compute capability"), e.getMessage());
    }

    @Test
    void aCompileErrorNamesTheError() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> nvrtc.compile("extern \"C\" __global__ void f() { undeclared_thing = 1; }", "bad.cu",
                        List.of()));
        assertTrue(e.getMessage().contains("could not compile bad.cu") && e.getMessage().contains("undeclared_thing"),
                e.getMessage());
        Matcher m = Pattern.compile("\\d+\\.\\d+").matcher(nvrtc.version());
        assertTrue(m.matches(), nvrtc.version());
    }
}
