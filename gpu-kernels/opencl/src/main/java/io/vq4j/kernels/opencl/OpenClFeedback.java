package io.vq4j.kernels.opencl;

import io.vq4j.kernels.feedback.GptqBlock;
import io.vq4j.kernels.feedback.ScalarGrid;
import org.jocl.CL;
import org.jocl.CLException;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * gptqBlock of the OpenCL backend: feedback.cl's gptq_scalar_block, one work-item per row, in
 * place on the resident W, its errors into the resident E (the CPU's bits: {@link GptqBlock});
 * gptvqBlock the same with gptvq_block, a work-group per row (the CPU's bits: GptvqBlock).
 * Per block the host sends the block's U (double) and the grids the block continues, and reads
 * back the block's codes and grids.
 */
final class OpenClFeedback {
    static final String KERNEL = "gptq_scalar_block";
    static final String VECTOR_KERNEL = "gptvq_block";
    /** Work-items per row of gptvq_block (feedback.cl's GV_GROUP). */
    static final int VECTOR_GROUP = 64;
    /** Work-items per work-group (rows per group). */
    private static final int GROUP = 64;

    private final OpenCl.Device device;
    private final LongConsumer allocated;

    OpenClFeedback(OpenCl.Device device, LongConsumer allocated) {
        this.device = device;
        this.allocated = allocated;
    }

    /** {@link io.vq4j.kernels.Backend#gptqBlock} on W and E; call under the device's lock, arguments checked. */
    void gptqBlock(cl_mem w, int rows, int cols, int i1, int i2, double[] ub, int bits, int groupSize,
                   boolean symmetric, int[] codes, float[] scales, int[] zeros, cl_mem err, int lde) {
        int width = i2 - i1;
        int g = GptqBlock.groupWidth(groupSize, cols);
        int groups = GptqBlock.groups(groupSize, cols);
        int g0 = i1 / g;
        int ng = (i2 - 1) / g - g0 + 1;
        if (rows == 0) {
            return;
        }
        float[] sc = new float[rows * ng];
        int[] zr = new int[rows * ng];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(scales, r * groups + g0, sc, r * ng, ng);
            System.arraycopy(zeros, r * groups + g0, zr, r * ng, ng);
        }
        int[] bad = {0};
        float[] badScale = {0f};
        int[] blockCodes = new int[rows * width];
        List<cl_mem> mems = new ArrayList<>();
        long bytes = 0;
        try {
            cl_mem du = keep(mems, in(Pointer.to(ub), (long) width * width * Sizeof.cl_double));
            cl_mem dc = keep(mems, CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE,
                    (long) rows * width * Sizeof.cl_int, null, null));
            cl_mem ds = keep(mems, in(Pointer.to(sc), (long) rows * ng * Sizeof.cl_float));
            cl_mem dz = keep(mems, in(Pointer.to(zr), (long) rows * ng * Sizeof.cl_int));
            cl_mem db = keep(mems, in(Pointer.to(bad), Sizeof.cl_int));
            cl_mem dbs = keep(mems, in(Pointer.to(badScale), Sizeof.cl_float));
            bytes = ((long) width * width * 2 + (long) rows * width + 2L * rows * ng + 2) * Sizeof.cl_float;
            allocated.accept(bytes);
            cl_kernel k = device.kernel(KERNEL);
            Object[] args = {w, rows, cols, i1, width, du, g, bits, symmetric ? 1 : 0, dc, ds, dz, g0, ng, err, lde,
                    db, dbs};
            for (int i = 0; i < args.length; i++) {
                if (args[i] instanceof cl_mem m) {
                    CL.clSetKernelArg(k, i, Sizeof.cl_mem, Pointer.to(m));
                } else {
                    CL.clSetKernelArg(k, i, Sizeof.cl_int, Pointer.to(new int[]{(Integer) args[i]}));
                }
            }
            long global = (rows + GROUP - 1L) / GROUP * GROUP;
            CL.clEnqueueNDRangeKernel(device.queue, k, 1, null, new long[]{global}, new long[]{GROUP}, 0, null, null);
            CL.clEnqueueReadBuffer(device.queue, db, true, 0, Sizeof.cl_int, Pointer.to(bad), 0, null, null);
            CL.clEnqueueReadBuffer(device.queue, dbs, true, 0, Sizeof.cl_float, Pointer.to(badScale), 0, null, null);
            if (bad[0] != 0) {
                throw ScalarGrid.outsideFp16(badScale[0]);
            }
            CL.clEnqueueReadBuffer(device.queue, dc, true, 0, (long) rows * width * Sizeof.cl_int,
                    Pointer.to(blockCodes), 0, null, null);
            CL.clEnqueueReadBuffer(device.queue, ds, true, 0, (long) rows * ng * Sizeof.cl_float, Pointer.to(sc), 0,
                    null, null);
            CL.clEnqueueReadBuffer(device.queue, dz, true, 0, (long) rows * ng * Sizeof.cl_int, Pointer.to(zr), 0,
                    null, null);
        } finally {
            for (cl_mem m : mems) {
                CL.clReleaseMemObject(m);
            }
            allocated.accept(-bytes);
        }
        for (int r = 0; r < rows; r++) {
            System.arraycopy(blockCodes, r * width, codes, r * cols + i1, width);
            System.arraycopy(sc, r * ng, scales, r * groups + g0, ng);
            System.arraycopy(zr, r * ng, zeros, r * groups + g0, ng);
        }
    }

    /**
     * {@link io.vq4j.kernels.Backend#gptvqBlock} on W and E: gptvq_block, a work-group per row; call
     * under the device's lock, arguments checked. Per block the host sends the block's U and D
     * (double), the column group's codebooks and the slices' scales, and reads back the indices.
     */
    void gptvqBlock(cl_mem w, int rows, int cols, int i1, int i2, double[] ub, double[] dw, int d, float[] books,
                    int k, int gRows, float[] scales, int[] indices, cl_mem err, int lde) {
        int width = i2 - i1;
        int per = width / d;
        if (rows == 0) {
            return;
        }
        int nBooks = rows / gRows * k * d;
        int[] blockIdx = new int[rows * per];
        List<cl_mem> mems = new ArrayList<>();
        long bytes = 0;
        try {
            cl_mem du = keep(mems, in(Pointer.to(ub), (long) width * width * Sizeof.cl_double));
            cl_mem dd = keep(mems, in(Pointer.to(dw), (long) width * Sizeof.cl_double));
            cl_mem db = keep(mems, in(Pointer.to(books), (long) nBooks * Sizeof.cl_float));
            cl_mem ds = keep(mems, scales == null ? in(Pointer.to(new float[1]), Sizeof.cl_float)
                    : in(Pointer.to(scales), (long) rows * per * Sizeof.cl_float));
            cl_mem di = keep(mems, CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE,
                    (long) rows * per * Sizeof.cl_int, null, null));
            bytes = ((long) width * width + width) * Sizeof.cl_double
                    + ((long) nBooks + (scales == null ? 1 : (long) rows * per) + (long) rows * per) * Sizeof.cl_float;
            allocated.accept(bytes);
            cl_kernel kernel = device.kernel(VECTOR_KERNEL);
            Object[] args = {w, rows, cols, i1, width, du, dd, d, db, k, gRows, ds, scales == null ? 0 : 1, di, err,
                    lde};
            for (int i = 0; i < args.length; i++) {
                if (args[i] instanceof cl_mem m) {
                    CL.clSetKernelArg(kernel, i, Sizeof.cl_mem, Pointer.to(m));
                } else {
                    CL.clSetKernelArg(kernel, i, Sizeof.cl_int, Pointer.to(new int[]{(Integer) args[i]}));
                }
            }
            CL.clEnqueueNDRangeKernel(device.queue, kernel, 1, null, new long[]{(long) rows * VECTOR_GROUP},
                    new long[]{VECTOR_GROUP}, 0, null, null);
            CL.clEnqueueReadBuffer(device.queue, di, true, 0, (long) rows * per * Sizeof.cl_int,
                    Pointer.to(blockIdx), 0, null, null);
        } finally {
            for (cl_mem m : mems) {
                CL.clReleaseMemObject(m);
            }
            allocated.accept(-bytes);
        }
        int perRow = cols / d;
        for (int r = 0; r < rows; r++) {
            System.arraycopy(blockIdx, r * per, indices, r * perRow + i1 / d, per);
        }
    }

    private cl_mem in(Pointer p, long size) {
        return CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE | CL.CL_MEM_COPY_HOST_PTR, size, p, null);
    }

    private static cl_mem keep(List<cl_mem> mems, cl_mem m) {
        mems.add(m);
        return m;
    }
}
