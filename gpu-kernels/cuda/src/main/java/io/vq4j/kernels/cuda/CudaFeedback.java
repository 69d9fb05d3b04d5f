package io.vq4j.kernels.cuda;

import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.feedback.GptqBlock;
import io.vq4j.kernels.feedback.GptvqBlock;
import io.vq4j.kernels.feedback.ScalarGrid;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * gptqBlock of the CUDA backend: feedback.cl's gptq_scalar_block (compiled with the rest of the
 * kernels by NVRTC, -fmad=false), one thread per row, in place on the resident W, its errors into
 * the resident E: the CPU's bits ({@link GptqBlock}), as on OpenCL. Per block the host sends the
 * block's U (double) and the grids the block continues, and reads back the block's codes and
 * grids. gptvqBlock is gptvq_block the same way, a block of threads per row (the CPU's bits:
 * {@link GptvqBlock}). Not yet run on a GPU (CudaFeedbackTest and CudaVectorFeedbackTest run where
 * one is).
 */
final class CudaFeedback {
    static final String KERNEL = "gptq_scalar_block";
    static final String VECTOR_KERNEL = "gptvq_block";
    /** Threads per row of gptvq_block (feedback.cl's GV_GROUP). */
    static final int VECTOR_GROUP = 64;
    /** Threads per block (rows per block). */
    private static final int BLOCK = 64;

    private CudaFeedback() {
    }

    /** {@link io.vq4j.kernels.Backend#gptqBlock} with W and E on the device. */
    static void gptqBlock(CudaBackend b, ResidentMatrix w, int i1, int i2, double[] ub, int bits, int groupSize,
                          boolean symmetric, int[] codes, float[] scales, int[] zeros, ResidentMatrix err) {
        GptqBlock.check(w.rows(), w.cols(), err.rows(), err.cols(), i1, i2, ub, bits, groupSize, codes, scales, zeros);
        int rows = w.rows(), cols = w.cols();
        if (rows == 0) {
            return;
        }
        int width = i2 - i1;
        int g = GptqBlock.groupWidth(groupSize, cols);
        int groups = GptqBlock.groups(groupSize, cols);
        int g0 = i1 / g;
        int ng = (i2 - 1) / g - g0 + 1;
        float[] sc = new float[rows * ng];
        int[] zr = new int[rows * ng];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(scales, r * groups + g0, sc, r * ng, ng);
            System.arraycopy(zeros, r * groups + g0, zr, r * ng, ng);
        }
        int[] blockCodes = new int[rows * width];
        int[] bad = {0};
        float[] badScale = {0f};
        b.call("gptqBlock " + rows + "x" + width + " of " + cols + " columns", () -> {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment su = a.allocate(JAVA_DOUBLE, (long) width * width);
                MemorySegment.copy(ub, 0, su, JAVA_DOUBLE, 0, width * width);
                MemorySegment ss = a.allocate(JAVA_FLOAT, (long) rows * ng);
                MemorySegment.copy(sc, 0, ss, JAVA_FLOAT, 0, rows * ng);
                MemorySegment sz = a.allocate(JAVA_INT, (long) rows * ng);
                MemorySegment.copy(zr, 0, sz, JAVA_INT, 0, rows * ng);
                MemorySegment sc0 = a.allocate(JAVA_INT, (long) rows * width);
                MemorySegment flag = a.allocate(JAVA_INT, 2); // bad, then the bits of the unrounded scale
                long du = 0, ds = 0, dz = 0, dc = 0, df = 0;
                try {
                    du = b.tempCopy(su);
                    ds = b.tempCopy(ss);
                    dz = b.tempCopy(sz);
                    dc = b.tempCopy(sc0);
                    df = b.tempCopy(flag);
                    b.launchKernel(KERNEL, rows, BLOCK, b.rowPointer(w, 0), rows, cols, i1, width, du, g, bits,
                            symmetric ? 1 : 0, dc, ds, dz, g0, ng, b.rowPointer(err, 0), err.cols(), df, df + 4);
                    b.copyOut(df, flag);
                    if (flag.get(JAVA_INT, 0) != 0) {
                        bad[0] = 1;
                        badScale[0] = flag.get(JAVA_FLOAT, 4);
                        return;
                    }
                    b.copyOut(dc, sc0);
                    b.copyOut(ds, ss);
                    b.copyOut(dz, sz);
                    MemorySegment.copy(sc0, JAVA_INT, 0, blockCodes, 0, rows * width);
                    MemorySegment.copy(ss, JAVA_FLOAT, 0, sc, 0, rows * ng);
                    MemorySegment.copy(sz, JAVA_INT, 0, zr, 0, rows * ng);
                } finally {
                    b.freeTempCopy(du, su);
                    b.freeTempCopy(ds, ss);
                    b.freeTempCopy(dz, sz);
                    b.freeTempCopy(dc, sc0);
                    b.freeTempCopy(df, flag);
                }
            }
        });
        if (bad[0] != 0) {
            throw ScalarGrid.outsideFp16(badScale[0]);
        }
        for (int r = 0; r < rows; r++) {
            System.arraycopy(blockCodes, r * width, codes, r * cols + i1, width);
            System.arraycopy(sc, r * ng, scales, r * groups + g0, ng);
            System.arraycopy(zr, r * ng, zeros, r * groups + g0, ng);
        }
    }

    /** {@link io.vq4j.kernels.Backend#gptvqBlock} with W and E on the device. */
    static void gptvqBlock(CudaBackend b, ResidentMatrix w, int i1, int i2, double[] ub, double[] dw, int d,
                           float[] books, int k, int gRows, float[] scales, int[] indices, ResidentMatrix err) {
        GptvqBlock.check(w.rows(), w.cols(), err.rows(), err.cols(), i1, i2, ub, dw, d, books, k, gRows, scales,
                indices);
        int rows = w.rows(), cols = w.cols();
        if (rows == 0) {
            return;
        }
        int width = i2 - i1;
        int per = width / d;
        int nBooks = rows / gRows * k * d;
        int[] blockIdx = new int[rows * per];
        b.call("gptvqBlock " + rows + "x" + width + " of " + cols + " columns, k=" + k, () -> {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment su = a.allocate(JAVA_DOUBLE, (long) width * width);
                MemorySegment.copy(ub, 0, su, JAVA_DOUBLE, 0, width * width);
                MemorySegment sd = a.allocate(JAVA_DOUBLE, width);
                MemorySegment.copy(dw, 0, sd, JAVA_DOUBLE, 0, width);
                MemorySegment sb = a.allocate(JAVA_FLOAT, nBooks);
                MemorySegment.copy(books, 0, sb, JAVA_FLOAT, 0, nBooks);
                MemorySegment ss = a.allocate(JAVA_FLOAT, scales == null ? 1 : (long) rows * per);
                if (scales != null) {
                    MemorySegment.copy(scales, 0, ss, JAVA_FLOAT, 0, rows * per);
                }
                MemorySegment si = a.allocate(JAVA_INT, (long) rows * per);
                long du = 0, dd = 0, db = 0, ds = 0, di = 0;
                try {
                    du = b.tempCopy(su);
                    dd = b.tempCopy(sd);
                    db = b.tempCopy(sb);
                    ds = b.tempCopy(ss);
                    di = b.tempCopy(si);
                    b.launchKernel(VECTOR_KERNEL, (long) rows * VECTOR_GROUP, VECTOR_GROUP, b.rowPointer(w, 0), rows,
                            cols, i1, width, du, dd, d, db, k, gRows, ds, scales == null ? 0 : 1, di,
                            b.rowPointer(err, 0), err.cols());
                    b.copyOut(di, si);
                    MemorySegment.copy(si, JAVA_INT, 0, blockIdx, 0, rows * per);
                } finally {
                    b.freeTempCopy(du, su);
                    b.freeTempCopy(dd, sd);
                    b.freeTempCopy(db, sb);
                    b.freeTempCopy(ds, ss);
                    b.freeTempCopy(di, si);
                }
            }
        });
        int perRow = cols / d;
        for (int r = 0; r < rows; r++) {
            System.arraycopy(blockIdx, r * per, indices, r * perRow + i1 / d, per);
        }
    }
}
