package io.vq4j.kernels.opencl;

import io.vq4j.kernels.assign.GemmAssign;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.blast.CLBlast;
import org.jocl.blast.CLBlastLayout;
import org.jocl.blast.CLBlastStatusCode;
import org.jocl.blast.CLBlastTranspose;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * assignNearestGemm of the OpenCL backend ({@link GemmAssign}): the codebook's operand on the
 * device once; per tile of vectors its operand, then per tile of centroids one CLBlast SGEMM into
 * the scores (centroids × vectors) and assign_gemm.cl's running argmin over them, so only the
 * least score and its index per vector come back; the distance is then the definition's on the host.
 */
final class OpenClAssignGemm {
    static final String KERNEL = "assign_gemm_argmin";
    private static final int GROUP = 64;

    private final OpenCl.Device device;
    private final String name;
    private final LongConsumer allocated;

    OpenClAssignGemm(OpenCl.Device device, String name, LongConsumer allocated) {
        this.device = device;
        this.name = name;
        this.allocated = allocated;
    }

    /** Call under the device's lock, arguments checked, n &gt; 0. */
    void run(float[] vectors, float[] weights, int n, int d, float[] codebook, int k, int[] index, float[] distance) {
        boolean weighted = weights != null;
        int m = GemmAssign.width(d, weighted);
        int nt = Math.min(n, GemmAssign.VECTOR_TILE);
        int kt = Math.min(k, GemmAssign.CENTROID_TILE);
        float[] cb = GemmAssign.codebookOperand(codebook, k, d, weighted);
        float[] best = new float[nt];
        int[] at = new int[nt];
        List<cl_mem> mems = new ArrayList<>();
        long bytes = ((long) k * m + (long) nt * m + (long) kt * nt + 2L * nt) * Sizeof.cl_float;
        allocated.accept(bytes);
        try {
            cl_mem dc = keep(mems, CL.clCreateBuffer(device.context, CL.CL_MEM_READ_ONLY | CL.CL_MEM_COPY_HOST_PTR,
                    (long) k * m * Sizeof.cl_float, Pointer.to(cb), null));
            cl_mem dx = keep(mems, CL.clCreateBuffer(device.context, CL.CL_MEM_READ_ONLY,
                    (long) nt * m * Sizeof.cl_float, null, null));
            cl_mem ds = keep(mems, CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE,
                    (long) kt * nt * Sizeof.cl_float, null, null));
            cl_mem db = keep(mems, CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE,
                    (long) nt * Sizeof.cl_float, null, null));
            cl_mem di = keep(mems, CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE,
                    (long) nt * Sizeof.cl_int, null, null));
            cl_kernel kn = device.kernel(KERNEL);
            for (int from = 0; from < n; from += nt) {
                int rows = Math.min(nt, n - from);
                float[] x = GemmAssign.vectorOperand(vectors, weights, from, rows, d);
                CL.clEnqueueWriteBuffer(device.queue, dx, true, 0, (long) rows * m * Sizeof.cl_float, Pointer.to(x),
                        0, null, null);
                for (int c0 = 0; c0 < k; c0 += kt) {
                    int cols = Math.min(kt, k - c0);
                    int status = CLBlast.CLBlastSgemm(CLBlastLayout.CLBlastLayoutRowMajor,
                            CLBlastTranspose.CLBlastTransposeNo, CLBlastTranspose.CLBlastTransposeYes, cols, rows, m,
                            1f, dc, (long) c0 * m, m, dx, 0, m, 0f, ds, 0, rows, device.queue, null);
                    if (status != CLBlastStatusCode.CLBlastSuccess) {
                        throw new IllegalStateException(name + ": assignNearestGemm's gemm failed: CLBlast status "
                                + CLBlastStatusCode.stringFor(status));
                    }
                    Object[] args = {ds, cols, rows, c0, db, di};
                    for (int a = 0; a < args.length; a++) {
                        if (args[a] instanceof cl_mem mem) {
                            CL.clSetKernelArg(kn, a, Sizeof.cl_mem, Pointer.to(mem));
                        } else {
                            CL.clSetKernelArg(kn, a, Sizeof.cl_int, Pointer.to(new int[]{(Integer) args[a]}));
                        }
                    }
                    long global = (rows + GROUP - 1L) / GROUP * GROUP;
                    CL.clEnqueueNDRangeKernel(device.queue, kn, 1, null, new long[]{global}, new long[]{GROUP}, 0,
                            null, null);
                }
                CL.clEnqueueReadBuffer(device.queue, db, true, 0, (long) rows * Sizeof.cl_float, Pointer.to(best), 0,
                        null, null);
                CL.clEnqueueReadBuffer(device.queue, di, true, 0, (long) rows * Sizeof.cl_int, Pointer.to(at), 0,
                        null, null);
                GemmAssign.finish(vectors, weights, from, rows, d, codebook, best, at, index, distance);
            }
        } finally {
            for (cl_mem mem : mems) {
                CL.clReleaseMemObject(mem);
            }
            allocated.accept(-bytes);
        }
    }

    private static cl_mem keep(List<cl_mem> mems, cl_mem m) {
        mems.add(m);
        return m;
    }
}
