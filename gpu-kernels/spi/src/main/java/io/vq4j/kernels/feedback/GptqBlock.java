package io.vq4j.kernels.feedback;

import io.vq4j.core.Parallel;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * GPTQ's in-block step for a scalar grid (io.vq4j.kernels.Backend#gptqBlock), the CPU's code: the
 * reference every device kernel (feedback.cl's gptq_scalar_block) follows operation by operation.
 * Rows are independent given U, so each row runs the block's columns left to right alone (GPTQ's
 * column loop, transposed: Frantar et al. 2022, Alg. 1, lines 5–9), row-parallel over chunks of
 * {@link #ROWS_PER_CHUNK} rows on a compact copy of the block's columns. Per row and column:
 * at a group's first column its grid ({@link ScalarGrid#of}) from W's columns as they are now;
 * q = the code of w, deq = scale·(q − zero), e = (float) ((w − deq) / U_jj) in double, then for
 * the block's later columns l: w_l −= (float) (e · U_jl), the product in double, rounded to float.
 */
public final class GptqBlock {
    /** Rows per parallel chunk (fixed, so chunks never depend on timing). */
    public static final int ROWS_PER_CHUNK = 16;

    private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
    /** As many float lanes as DS has double lanes, for the D2F conversion. */
    private static final VectorSpecies<Float> FS = VectorSpecies.of(float.class,
            VectorShape.forBitSize(DS.vectorBitSize() / 2));

    private GptqBlock() {
    }

    /** The group width g of a layer of {@code cols} columns (groupSize ≤ 0: one group per row). */
    public static int groupWidth(int groupSize, int cols) {
        return groupSize <= 0 ? cols : groupSize;
    }

    /** Groups per row. */
    public static int groups(int groupSize, int cols) {
        int g = groupWidth(groupSize, cols);
        return cols == 0 ? 0 : (cols + g - 1) / g;
    }

    /** The last column (exclusive) a grid fixed in block [i1, i2) reads: the end of the last group starting there. */
    public static int gridEnd(int i1, int i2, int g, int cols) {
        int ext = i2;
        for (int j = (i1 + g - 1) / g * g; j < i2; j += g) {
            ext = Math.max(ext, Math.min(cols, j + g));
        }
        return ext;
    }

    /** Checks Backend#gptqBlock's arguments (the same on every backend): W rows × cols, E errRows × errCols. */
    public static void check(int rows, int cols, int errRows, int errCols, int i1, int i2, double[] ub, int bits,
                             int groupSize, int[] codes, float[] scales, int[] zeros) {
        int width = i2 - i1;
        int groups = groups(groupSize, cols);
        if (i1 < 0 || i2 <= i1 || i2 > cols) {
            throw new IllegalArgumentException("gptqBlock: columns [" + i1 + ", " + i2 + ") of " + cols);
        }
        if (bits < 1 || bits > 16) {
            throw new IllegalArgumentException("gptqBlock: bits must be 1..16, got " + bits);
        }
        if (ub.length < (long) width * width || codes.length < (long) rows * cols
                || scales.length < (long) rows * groups || zeros.length < (long) rows * groups) {
            throw new IllegalArgumentException("gptqBlock: " + ub.length + " values of U for a block of " + width + ", "
                    + codes.length + " codes, " + scales.length + " scales, " + zeros.length + " zeros for " + rows + "x"
                    + cols + " in " + groups + " groups");
        }
        if (errRows != rows || errCols < width) {
            throw new IllegalArgumentException("gptqBlock: errors " + errRows + "x" + errCols + " for " + rows
                    + " rows and a block of " + width);
        }
    }

    /**
     * The step on host copies (the SPI's default, and so the CPU backend's): {@code block} holds
     * W's columns [i1, i2) (rows × width, row-major; overwritten), {@code extra} W's columns
     * [i2, gridEnd) for the grids that reach past the block (null when none does); the scaled
     * errors go to {@code err} (rows × width). The rows run in parallel, in fixed chunks.
     */
    public static void run(float[] block, float[] extra, float[] err, int rows, int cols, int i1, int i2, double[] ub,
                           int bits, int groupSize, boolean symmetric, int[] codes, float[] scales, int[] zeros) {
        int width = i2 - i1;
        int g = groupWidth(groupSize, cols);
        Rows job = new Rows(block, err, ub, width, i1, extra, gridEnd(i1, i2, g, cols) - i2, cols, g,
                groups(groupSize, cols), bits, symmetric, codes, scales, zeros);
        Parallel.forChunks(0, rows, ROWS_PER_CHUNK, job::rows);
    }

    /**
     * The rows [lo, hi) of one block of columns [i1, i1 + width), on the block's columns copied out
     * of W (row-major, row stride width).
     *
     * @param extra W's columns [i1 + width, i1 + width + extraWidth) for a group's grid that
     *              reaches past the block (null when none does)
     * @param ub    U[i1:i2, i1:i2] (width × width, row-major)
     */
    private record Rows(float[] w, float[] err, double[] ub, int width, int i1, float[] extra, int extraWidth,
                        int cols, int g, int groups, int bits, boolean symmetric, int[] codes, float[] scales,
                        int[] zeros) {
        void rows(int lo, int hi) {
            float[] span = extra == null ? null : new float[g];
            int maxq = (1 << bits) - 1;
            for (int r = lo; r < hi; r++) {
                int ro = r * width;
                // a group that started in an earlier block: its stored grid
                float scale = scales[r * groups + i1 / g];
                int zero = zeros[r * groups + i1 / g];
                for (int jj = 0; jj < width; jj++) {
                    int j = i1 + jj;
                    if (j % g == 0) {
                        ScalarGrid grid = grid(r, jj, Math.min(cols, j + g) - i1, span);
                        scale = grid.scale();
                        zero = grid.zero();
                        scales[r * groups + j / g] = scale;
                        zeros[r * groups + j / g] = zero;
                    }
                    int at = ro + jj;
                    int q = ScalarGrid.quantize(w[at], scale, zero, maxq);
                    codes[r * cols + j] = q;
                    float deq = ScalarGrid.dequantize(q, scale, zero);
                    float e = (float) ((w[at] - deq) / ub[jj * width + jj]);
                    w[at] = deq;
                    err[at] = e;
                    subtractScaled(w, at + 1, e, ub, jj * width + jj + 1, width - jj - 1);
                }
            }
        }

        /** The grid of row r's group over block columns [from, to) (to may pass the block: then extra's). */
        private ScalarGrid grid(int r, int from, int to, float[] span) {
            if (to <= width) {
                return ScalarGrid.of(w, r * width + from, r * width + to, bits, symmetric);
            }
            int in = width - from;
            System.arraycopy(w, r * width + from, span, 0, in);
            System.arraycopy(extra, r * extraWidth, span, in, to - width);
            return ScalarGrid.of(span, 0, in + to - width, bits, symmetric);
        }
    }

    /**
     * The in-block feedback of one column's error along a row: w[wo + i] −= (float) (e · u[uo + i])
     * for i &lt; n — the product in double, rounded to float, then a float subtraction, lane by
     * lane (element-wise, so the bits are those of {@link #subtractScaledScalar}).
     */
    public static void subtractScaled(float[] w, int wo, float e, double[] u, int uo, int n) {
        int i = 0;
        int step = DS.length();
        int bound = DS.loopBound(n);
        DoubleVector ev = DoubleVector.broadcast(DS, e);
        for (; i < bound; i += step) {
            FloatVector upd = (FloatVector) DoubleVector.fromArray(DS, u, uo + i).mul(ev)
                    .convertShape(VectorOperators.D2F, FS, 0);
            FloatVector.fromArray(FS, w, wo + i).sub(upd).intoArray(w, wo + i);
        }
        for (; i < n; i++) {
            w[wo + i] -= (float) (e * u[uo + i]);
        }
    }

    /** The scalar reference of {@link #subtractScaled}. */
    public static void subtractScaledScalar(float[] w, int wo, float e, double[] u, int uo, int n) {
        for (int i = 0; i < n; i++) {
            w[wo + i] -= (float) (e * u[uo + i]);
        }
    }
}
