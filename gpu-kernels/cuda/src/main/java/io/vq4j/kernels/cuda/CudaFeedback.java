package io.vq4j.kernels.cuda;

import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.feedback.GptqBlock;
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
 * grids. Not yet run on a GPU (CudaFeedbackTest runs where one is).
 */
final class CudaFeedback {
    static final String KERNEL = "gptq_scalar_block";
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
}
