package io.vq4j.kernels;

import io.vq4j.kernels.packed.PackedLayout;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * The one kernel source, io/vq4j/kernels/vq.cl, with the prelude of each dialect: the same
 * kernels compile as OpenCL C and, through NVRTC, as CUDA C++. Both preludes end with the
 * packed layout's field offsets and segment kinds ({@link PackedLayout#defines()}), the one
 * table the Java side writes the packed tables with.
 */
public final class KernelSource {
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
                #define TILE %d
                """.formatted(tile);
        if (fp64) {
            prelude += "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n#define HAS_DOUBLE 1\n";
        }
        return prelude + PackedLayout.defines() + body();
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
                #define TILE %d
                """.formatted(tile);
        return prelude + PackedLayout.defines() + body();
    }

    /** vq.cl as stored, without a prelude (its packed kernels use the names of {@link PackedLayout}). */
    public static String body() {
        try (InputStream in = KernelSource.class.getResourceAsStream("/io/vq4j/kernels/vq.cl")) {
            if (in == null) {
                throw new IllegalStateException("kernel source io/vq4j/kernels/vq.cl is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("kernel source io/vq4j/kernels/vq.cl cannot be read: " + e.getMessage());
        }
    }
}
