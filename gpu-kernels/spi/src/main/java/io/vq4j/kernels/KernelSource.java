package io.vq4j.kernels;

import io.vq4j.kernels.packed.PackedLayout;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * The kernel source, io/vq4j/kernels/vq.cl followed by feedback.cl (the error feedback's in-block
 * step) and assign_gemm.cl (the matmul form's argmin), with the prelude of each dialect: the same
 * kernels compile as OpenCL C and, through NVRTC, as CUDA C++. The OpenCL source also ends with
 * sgemm.cl, the OpenCL backend's own float gemm (OpenCL only: the CUDA backend uses cuBLAS).
 * Both preludes end with the packed layout's field offsets and segment kinds ({@link PackedLayout#defines()}), the one
 * table the Java side writes the packed tables with.
 */
public final class KernelSource {
    /**
     * Vectors per work-item of the assignment and rows per work-item of the batched matmul (the
     * width of the prelude's vfloat): 8, one AVX2 register on PoCL; 4 on CUDA, where each lane is
     * a register and 16 dimensions of x and w for 4 vectors already take 128 of them.
     */
    public static final int OPENCL_LANES = 8;
    public static final int CUDA_LANES = 4;
    /**
     * Work-items per work-group of the packed matmul and matvec kernels (fixed, a power of two:
     * their tiles and the matvec's reduction tree depend on it).
     */
    public static final int MATMUL_GROUP = 64;
    /**
     * Floats of local memory the batched packed matmul keeps for the codebooks of the group a tile
     * decodes (vq.cl's MM_CB_FLOATS; every stage's, summed): 16 KB, so that with the tile's weights
     * (4 KB) and inputs (8 KB) the kernel stays within the 32 KB of local memory every OpenCL
     * device has (and the 48 KB of static shared memory a CUDA kernel may take). Groups whose
     * codebooks are larger are gathered from global memory.
     */
    public static final int MATMUL_CODEBOOK_FLOATS = 4096;
    /** Row groups of a batched matmul work-group; each work-item of one holds VL rows. */
    private static final int MATMUL_ROW_GROUPS = 4;
    /** Input rows (tokens) per work-item of the batched matmul. */
    private static final int MATMUL_TOKENS_PER_ITEM = 4;
    /** Input rows (tokens) per work-group of the batched packed matmul: 16 token groups of 4. */
    public static final int MATMUL_TOKENS = MATMUL_GROUP / MATMUL_ROW_GROUPS * MATMUL_TOKENS_PER_ITEM;

    /**
     * Queries (work-items) per work-group of the tiled attention (vq.cl's fw_attention_tiled,
     * FA_QUERIES): one work-group per query head and block of this many queries.
     */
    public static final int ATTENTION_QUERIES = 32;

    /**
     * The tiled attention kernel for heads of {@code headDim}: vq.cl's fw_attention_tiled_HD for
     * the widths it specialises (its loops over the head unrolled), fw_attention_tiled otherwise.
     */
    public static String attentionKernel(int headDim) {
        return switch (headDim) {
            case 8, 16, 32, 64, 128 -> "fw_attention_tiled_" + headDim;
            default -> "fw_attention_tiled";
        };
    }

    /** Output rows per work-group of the batched packed matmul, for a dialect of {@code lanes} lanes. */
    public static int matmulRows(int lanes) {
        return MATMUL_ROW_GROUPS * lanes;
    }

    /** The matmul geometry as #defines, the same in both dialects. */
    private static String geometry() {
        return "#define MM_GROUP " + MATMUL_GROUP + "\n#define MM_RG " + MATMUL_ROW_GROUPS + "\n#define MM_TM "
                + MATMUL_TOKENS_PER_ITEM + "\n#define MM_CB_FLOATS " + MATMUL_CODEBOOK_FLOATS + "\n#define FA_QUERIES "
                + ATTENTION_QUERIES + "\n";
    }

    private KernelSource() {
    }

    /** vq.cl as OpenCL C; {@code fp64} enables the double-precision M-step kernels. */
    public static String opencl(boolean fp64, int tile) {
        String prelude = """
                #define KERNEL __kernel
                #define FUNC inline
                #define GLOBAL __global
                #define LOCAL __local
                #define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
                #define GLOBAL_ID(i) ((int) get_global_id(i))
                #define LOCAL_ID(i) ((int) get_local_id(i))
                #define GROUP_ID(i) ((int) get_group_id(i))
                #define LOCAL_SIZE(i) ((int) get_local_size(i))
                #define LOAD_HALF(p) vload_half(0, (const __global half*) (p))
                #define FORCE_INLINE inline __attribute__((always_inline))
                #define LPTR __local
                #define VL %d
                typedef float%d vfloat;
                typedef int%d vint;
                #define VSPLAT(a) ((vfloat) (a))
                #define VISPLAT(a) ((vint) (a))
                #define VLOAD(p) vload%d(0, p)
                #define VSTORE(v, p) vstore%d(v, 0, p)
                #define VLESS(a, b) isless(a, b)
                #define VSELECT(a, b, m) select(a, b, m)
                #define VFMA(a, b, c) fma(a, b, c)
                #define VEXP(a) exp(a)
                #define TILE %d
                """.formatted(OPENCL_LANES, OPENCL_LANES, OPENCL_LANES, OPENCL_LANES, OPENCL_LANES, tile);
        if (fp64) {
            prelude += "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n#define HAS_DOUBLE 1\n";
        }
        return prelude + geometry() + PackedLayout.defines() + body() + feedback() + resource("assign_gemm.cl")
                + resource("sgemm.cl");
    }

    /**
     * vq.cl as CUDA C++ for NVRTC (compile with -fmad=false so that no multiply-add is fused,
     * as the OpenCL source's FP_CONTRACT OFF). Every CUDA device has doubles.
     */
    public static String cuda(int tile) {
        String prelude = """
                #define KERNEL extern "C" __global__
                #define FUNC __device__ inline
                #define GLOBAL
                #define LOCAL __shared__
                #define BARRIER() __syncthreads()
                #define GLOBAL_ID(i) ((int) (blockIdx.x * blockDim.x + threadIdx.x))
                #define LOCAL_ID(i) ((int) threadIdx.x)
                #define GROUP_ID(i) ((int) blockIdx.x)
                #define LOCAL_SIZE(i) ((int) blockDim.x)
                #ifndef INFINITY
                #define INFINITY __int_as_float(0x7f800000)
                #endif
                typedef unsigned char uchar;
                __device__ inline float vq_half_to_float(const unsigned char* p) {
                    const unsigned short h = *(const unsigned short*) p;
                    float f;
                    asm("cvt.f32.f16 %%0, %%1;" : "=f"(f) : "h"(h));
                    return f;
                }
                #define LOAD_HALF(p) vq_half_to_float(p)
                #define HAS_DOUBLE 1
                #define FORCE_INLINE __device__ __forceinline__
                #define LPTR
                #define VL %d
                struct vfloat { float s[VL]; };
                struct vint { int s[VL]; };
                FORCE_INLINE vfloat VSPLAT(float a) { vfloat r; for (int l = 0; l < VL; l++) r.s[l] = a; return r; }
                FORCE_INLINE vint VISPLAT(int a) { vint r; for (int l = 0; l < VL; l++) r.s[l] = a; return r; }
                FORCE_INLINE vfloat VLOAD(const float* p) { vfloat r; for (int l = 0; l < VL; l++) r.s[l] = p[l]; return r; }
                FORCE_INLINE void VSTORE(vfloat v, float* p) { for (int l = 0; l < VL; l++) p[l] = v.s[l]; }
                FORCE_INLINE void VSTORE(vint v, int* p) { for (int l = 0; l < VL; l++) p[l] = v.s[l]; }
                FORCE_INLINE vint VLESS(vfloat a, vfloat b) { vint r; for (int l = 0; l < VL; l++) r.s[l] = a.s[l] < b.s[l] ? -1 : 0; return r; }
                FORCE_INLINE vfloat VSELECT(vfloat a, vfloat b, vint m) { vfloat r; for (int l = 0; l < VL; l++) r.s[l] = m.s[l] ? b.s[l] : a.s[l]; return r; }
                FORCE_INLINE vint VSELECT(vint a, vint b, vint m) { vint r; for (int l = 0; l < VL; l++) r.s[l] = m.s[l] ? b.s[l] : a.s[l]; return r; }
                FORCE_INLINE vfloat VFMA(vfloat a, vfloat b, vfloat c) { vfloat r; for (int l = 0; l < VL; l++) r.s[l] = fmaf(a.s[l], b.s[l], c.s[l]); return r; }
                FORCE_INLINE vfloat operator+(vfloat a, vfloat b) { vfloat r; for (int l = 0; l < VL; l++) r.s[l] = a.s[l] + b.s[l]; return r; }
                FORCE_INLINE vfloat operator-(vfloat a, vfloat b) { vfloat r; for (int l = 0; l < VL; l++) r.s[l] = a.s[l] - b.s[l]; return r; }
                FORCE_INLINE vfloat operator*(vfloat a, vfloat b) { vfloat r; for (int l = 0; l < VL; l++) r.s[l] = a.s[l] * b.s[l]; return r; }
                FORCE_INLINE vfloat VEXP(vfloat a) { vfloat r; for (int l = 0; l < VL; l++) r.s[l] = expf(a.s[l]); return r; }
                #define TILE %d
                """.formatted(CUDA_LANES, tile);
        return prelude + geometry() + PackedLayout.defines() + body() + feedback() + resource("assign_gemm.cl");
    }

    /** vq.cl as stored, without a prelude (its packed kernels use the names of {@link PackedLayout}). */
    public static String body() {
        return resource("vq.cl");
    }

    /** feedback.cl as stored (the in-block step of the error feedback), compiled after vq.cl with its prelude. */
    public static String feedback() {
        return resource("feedback.cl");
    }

    private static String resource(String file) {
        try (InputStream in = KernelSource.class.getResourceAsStream("/io/vq4j/kernels/" + file)) {
            if (in == null) {
                throw new IllegalStateException("kernel source io/vq4j/kernels/" + file + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("kernel source io/vq4j/kernels/" + file + " cannot be read: "
                    + e.getMessage());
        }
    }
}
