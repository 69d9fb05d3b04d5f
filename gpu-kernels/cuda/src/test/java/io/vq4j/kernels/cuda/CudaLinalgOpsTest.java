package io.vq4j.kernels.cuda;

import io.vq4j.kernels.linalg.Gram;
import io.vq4j.kernels.linalg.InverseCholesky;
import io.vq4j.kernels.linalg.LinalgKernels;
import io.vq4j.kernels.linalg.LinalgParityTest;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_command_queue;
import org.jocl.cl_context;
import org.jocl.cl_context_properties;
import org.jocl.cl_device_id;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;
import org.jocl.cl_platform_id;
import org.jocl.cl_program;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CUDA backend's launches of linalg.cl ({@link CudaLinalgOps}: grids of blocks, block shapes,
 * the arguments and their widths) replayed on an OpenCL device (PoCL in CI): a CUDA grid of
 * gx × gy blocks of bx × by threads is the NDRange of gx·bx × gy·by work-items in groups of bx × by,
 * and blockIdx/threadIdx are what the OpenCL dialect's group and local ids give. The Gram and the
 * factor driven through these launches must be the CPU's bits, so a wrong grid, block or argument
 * in CudaLinalgOps fails here without a GPU. Device pointers are stand-in handles (≥ 2⁴⁰, never an
 * offset) mapped to OpenCL buffers. Skips without OpenCL, unless VQ_REQUIRE_OPENCL=1.
 */
class CudaLinalgOpsTest {
    private static final long HANDLE = 1L << 40;

    static cl_context context;
    static cl_command_queue queue;
    static cl_program program;
    static final Map<String, cl_kernel> KERNELS = new HashMap<>();

    @BeforeAll
    static void open() {
        cl_device_id device = null;
        cl_platform_id platform = null;
        try {
            CL.setExceptionsEnabled(true);
            int[] np = new int[1];
            CL.clGetPlatformIDs(0, null, np);
            cl_platform_id[] ps = new cl_platform_id[np[0]];
            CL.clGetPlatformIDs(np[0], ps, null);
            for (cl_platform_id p : ps) {
                cl_device_id[] d = new cl_device_id[1];
                try {
                    CL.clGetDeviceIDs(p, CL.CL_DEVICE_TYPE_ALL, 1, d, null);
                } catch (org.jocl.CLException e) {
                    continue;
                }
                platform = p;
                device = d[0];
                break;
            }
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | org.jocl.CLException e) {
            device = null;
        }
        if (device == null) {
            if ("1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
                fail("VQ_REQUIRE_OPENCL=1 but there is no OpenCL device");
            }
            assumeTrue(false, "no OpenCL device to replay the CUDA launches on");
        }
        cl_context_properties props = new cl_context_properties();
        props.addProperty(CL.CL_CONTEXT_PLATFORM, platform);
        context = CL.clCreateContext(props, 1, new cl_device_id[]{device}, null, null, null);
        queue = CL.clCreateCommandQueue(context, device, 0, null);
        program = CL.clCreateProgramWithSource(context, 1, new String[]{LinalgKernels.opencl()}, null, null);
        CL.clBuildProgram(program, 0, null, "-cl-std=CL1.2", null, null);
    }

    @AfterAll
    static void close() {
        if (context != null) {
            KERNELS.values().forEach(CL::clReleaseKernel);
            CL.clReleaseProgram(program);
            CL.clReleaseCommandQueue(queue);
            CL.clReleaseContext(context);
        }
    }

    /** A CUDA "device": buffers behind stand-in pointers, launches replayed as NDRanges. */
    static final class Replay implements CudaLinalgOps.Target, AutoCloseable {
        final Map<Long, cl_mem> buffers = new HashMap<>();
        int launches;

        long alloc(long bytes) {
            long p = HANDLE * (buffers.size() + 1);
            cl_mem m = CL.clCreateBuffer(context, CL.CL_MEM_READ_WRITE, Math.max(8, bytes), null, null);
            buffers.put(p, m);
            CL.clEnqueueFillBuffer(queue, m, Pointer.to(new byte[]{0}), 1, 0, Math.max(8, bytes), 0, null, null);
            return p;
        }

        long in(double[] v) {
            long p = alloc((long) v.length * Sizeof.cl_double);
            CL.clEnqueueWriteBuffer(queue, buffers.get(p), true, 0, (long) v.length * Sizeof.cl_double, Pointer.to(v),
                    0, null, null);
            return p;
        }

        long in(float[] v) {
            long p = alloc((long) v.length * Sizeof.cl_float);
            CL.clEnqueueWriteBuffer(queue, buffers.get(p), true, 0, (long) v.length * Sizeof.cl_float, Pointer.to(v),
                    0, null, null);
            return p;
        }

        void out(long p, double[] dst) {
            CL.clEnqueueReadBuffer(queue, buffers.get(p), true, 0, (long) dst.length * Sizeof.cl_double,
                    Pointer.to(dst), 0, null, null);
        }

        int flag(long p) {
            int[] v = new int[1];
            CL.clEnqueueReadBuffer(queue, buffers.get(p), true, 0, Sizeof.cl_int, Pointer.to(v), 0, null, null);
            return v[0];
        }

        @Override
        public void launch(CudaLinalgOps.Launch l) {
            cl_kernel k = KERNELS.computeIfAbsent(l.kernel(), n -> CL.clCreateKernel(program, n, null));
            Object[] args = l.args();
            for (int i = 0; i < args.length; i++) {
                if (args[i] instanceof Long v && v >= HANDLE) {
                    cl_mem m = buffers.get(v);
                    assertTrue(m != null, l.kernel() + " argument " + i + ": " + v + " is no buffer");
                    CL.clSetKernelArg(k, i, Sizeof.cl_mem, Pointer.to(m));
                } else if (args[i] instanceof Long v) {
                    CL.clSetKernelArg(k, i, Sizeof.cl_long, Pointer.to(new long[]{v}));
                } else {
                    CL.clSetKernelArg(k, i, Sizeof.cl_int, Pointer.to(new int[]{(Integer) args[i]}));
                }
            }
            assertTrue(l.gridX() > 0 && l.gridY() > 0 && l.blockX() * l.blockY() <= 1024, l.toString());
            CL.clEnqueueNDRangeKernel(queue, k, 2, null,
                    new long[]{(long) l.gridX() * l.blockX(), (long) l.gridY() * l.blockY()},
                    new long[]{l.blockX(), l.blockY()}, 0, null, null);
            launches++;
        }

        @Override
        public void zero(long p, long bytes) {
            assertTrue(bytes > 0 && bytes % Sizeof.cl_double == 0, "zero of " + bytes + " bytes: not whole doubles");
            CL.clEnqueueFillBuffer(queue, buffers.get(p), Pointer.to(new byte[]{0}), 1, 0, bytes, 0, null, null);
        }

        @Override
        public void close() {
            CL.clFinish(queue);
            buffers.values().forEach(CL::clReleaseMemObject);
        }
    }

    /** CudaLinalg's factorInPlace, on the replay: J U J from J H J. */
    static boolean factor(double[] h, int n) {
        LinalgKernels.reverse(h, n * n);
        try (Replay r = new Replay()) {
            long a = r.in(h);
            long inv = r.alloc((long) LinalgKernels.NB * LinalgKernels.NB * Double.BYTES);
            long panel = r.alloc(LinalgKernels.scratchDoubles(n) * Double.BYTES);
            long t = r.alloc(LinalgKernels.scratchDoubles(n) * Double.BYTES);
            long fail = r.alloc(Integer.BYTES);
            LinalgKernels.factor(new CudaLinalgOps(r), a, inv, panel, t, fail, n);
            if (r.flag(fail) != 0) {
                return false;
            }
            r.out(a, h);
            assertTrue(r.launches > 0);
        }
        LinalgKernels.reverse(h, n * n);
        return true;
    }

    @Test
    void theFactorThroughTheCudaLaunchesIsTheCpusBitForBit() {
        for (int n : new int[]{1, 2, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200, 255, 256, 257, 300, 517}) {
            double[] h = LinalgParityTest.dampedHessian(n);
            double[] want = h.clone();
            assertTrue(InverseCholesky.inPlace(want, n), "cpu n=" + n);
            assertTrue(factor(h, n), "replayed n=" + n);
            assertTrue(Arrays.equals(want, h), "U through the CUDA launches at n=" + n + " differs in its bits");
        }
        double[] neg = LinalgParityTest.dampedHessian(300);
        neg[200 * 300 + 200] = -1;
        assertFalse(factor(neg, 300), "not positive definite");
    }

    @Test
    void theGramThroughTheCudaLaunchesIsTheCpusBitForBit() {
        for (int[] sh : new int[][]{{1, 1}, {3, 17}, {255, 16}, {256, 33}, {300, 130}, {513, 64}, {40, 257}}) {
            int rows = sh[0], dim = sh[1];
            float[] x = LinalgParityTest.activations(rows, dim, rows * 7L + dim);
            double[] h = new double[dim * dim];
            SplittableRandom g = new SplittableRandom(dim);
            for (int i = 0; i < h.length; i++) {
                h[i] = g.nextDouble();
            }
            double[] want = h.clone();
            Gram.accumulate(x, rows, dim, want);
            try (Replay r = new Replay()) {
                long dx = r.in(x);
                long dh = r.in(h);
                LinalgKernels.gram(new CudaLinalgOps(r), dx, rows, dim, dh);
                r.out(dh, h);
                assertEquals(1, r.launches, "one product launch");
            }
            assertTrue(Arrays.equals(want, h), "Gram " + rows + "x" + dim + " through the CUDA launches");
        }
    }

    @Test
    void aGridTooLargeForOneDimensionIsOneClearError() {
        assertEquals(1, CudaLinalgOps.blocks(1, 16));
        assertEquals(65535, CudaLinalgOps.blocks(65535L * 16, 16));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> CudaLinalgOps.blocks(65536L * 16, 16));
        assertTrue(e.getMessage().contains("grid dimension"), e.getMessage());
    }
}
