package io.vq4j.kernels.opencl;

import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;

import java.util.function.LongConsumer;

/**
 * The OpenCL backend's own float gemm (sgemm.cl): op(B) packed on the device into panels of
 * {@link #W} columns, then one work-item per {@link #R} rows × {@link #W} columns of C. Every
 * element is summed as CpuBackend.gemm sums it (from 0 by fma in ascending k, then alpha·s, plus
 * beta·c when beta ≠ 0, no contraction), so the results are the CPU backend's bits. Operands are
 * addressed by offset and two strides each, so both overloads of the backend's gemm and every
 * transpose run on it.
 */
final class OpenClGemm {
    static final String PACK = "sgemm_pack";
    static final String KERNEL = "sgemm_packed";
    /** Columns per panel (sgemm.cl's SG_W) and rows per work-item (SG_R). */
    static final int W = 16;
    static final int R = 8;
    /** Work-items per group along the rows (Integer.getInteger for measuring; 0: the runtime's choice). */
    private static final int GROUP_ROWS = Integer.getInteger("vq.clgemm.groupRows", 8);

    private final OpenCl.Device device;
    private final LongConsumer allocated;

    OpenClGemm(OpenCl.Device device, LongConsumer allocated) {
        this.device = device;
        this.allocated = allocated;
    }

    /**
     * C(i, j) = alpha·Σ_q A(i, q)·B(q, j) (+ beta·C(i, j) when beta ≠ 0) for i &lt; m, j &lt; n, with
     * A(i, q) = a[ao + i·ars + q·aqs], B(q, j) = b[bo + q·bqs + j·bjs], C(i, j) = c[co + i·ldc + j].
     * Call under the device's lock, regions checked, m, n &gt; 0; k may be 0. Blocks until done.
     */
    void run(int m, int n, int k, float alpha, cl_mem a, long ao, long ars, long aqs, cl_mem b, long bo, long bqs,
             long bjs, float beta, cl_mem c, long co, long ldc) {
        int panels = (n + W - 1) / W;
        long bytes = Math.max(1L, (long) panels * k * W * Sizeof.cl_float);
        allocated.accept(bytes);
        cl_mem p = CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE, bytes, null, null);
        try {
            if (k > 0) {
                cl_kernel pk = device.kernel(PACK);
                args(pk, b, bo, bqs, bjs, k, n, p);
                CL.clEnqueueNDRangeKernel(device.queue, pk, 2, null, new long[]{k, panels}, null, 0, null, null);
            }
            cl_kernel gk = device.kernel(KERNEL);
            args(gk, m, n, k, alpha, beta, a, ao, ars, aqs, p, c, co, ldc);
            long blocks = (m + R - 1) / R;
            long[] local = null;
            if (GROUP_ROWS > 0) {
                blocks = (blocks + GROUP_ROWS - 1) / GROUP_ROWS * GROUP_ROWS;
                local = new long[]{1, GROUP_ROWS};
            }
            CL.clEnqueueNDRangeKernel(device.queue, gk, 2, null, new long[]{panels, blocks}, local, 0, null, null);
            CL.clFinish(device.queue);
        } finally {
            CL.clReleaseMemObject(p);
            allocated.accept(-bytes);
        }
    }

    private static void args(cl_kernel kn, Object... args) {
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case cl_mem mem -> CL.clSetKernelArg(kn, i, Sizeof.cl_mem, Pointer.to(mem));
                case Integer v -> CL.clSetKernelArg(kn, i, Sizeof.cl_int, Pointer.to(new int[]{v}));
                case Long v -> CL.clSetKernelArg(kn, i, Sizeof.cl_long, Pointer.to(new long[]{v}));
                case Float v -> CL.clSetKernelArg(kn, i, Sizeof.cl_float, Pointer.to(new float[]{v}));
                default -> throw new IllegalArgumentException("sgemm argument " + i + ": " + args[i]);
            }
        }
    }
}
