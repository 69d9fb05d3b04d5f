package io.vq4j.quant.gptq;

import io.vq4j.core.Parallel;
import io.vq4j.core.Phases;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedMatrixBuilder;
import io.vq4j.quant.core.Checks;
import io.vq4j.quant.core.ErrorFeedback;
import io.vq4j.quant.core.Linalg;
import io.vq4j.quant.core.ResidentFeedback;
import io.vq4j.quant.core.Rtn;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.QuantSpec;


/**
 * Method "gptq": scalar quantization with GPTQ's error feedback (Frantar et al. 2022, as the
 * GPTVQ paper recalls it in §2). With U the upper Cholesky factor of H⁻¹ (UᵀU = H⁻¹), columns
 * are quantized left to right; column j's scaled error e = (w_j − q_j) / U_jj is fed to the
 * not-yet-quantized columns as w_l −= e · U_jl. Inside a block of B columns this happens column
 * by column; the rest of the matrix gets the whole block's errors at once, as one gemm on the
 * backend (the "lazy batch" update). A group's grid (scale and zero per row, {@link Rtn#grid})
 * is fixed when the loop reaches the group's first column, from the weights as they are then.
 * With act-order, columns are taken in order of decreasing diag H (ties in index order) and
 * the permutation is stored with the layer; groups are then runs of permuted columns.
 */
public final class Gptq implements Method.Algorithm<GptqOptions> {
    public static final Method<GptqOptions> METHOD = Method.scalar("gptq", GptqOptions.class, true, GptqOptions.TABLE,
            new Gptq());

    private Gptq() {
    }

    private static String name() {
        return METHOD.name();
    }

    @Override
    public void validate(GptqOptions s, QuantSpec spec, int rows, int cols) {
        Checks.checkScalar(name(), s.bits(), s.groupSize());
        if (s.blockSize() < 1) {
            throw new IllegalArgumentException("--block-size must be at least 1, got " + s.blockSize());
        }
    }

    @Override
    public PackedMatrix quantize(LayerProblem p, GptqOptions s) {
        if (p.hessian() == null) {
            throw new IllegalArgumentException(p.name() + ": gptq needs the layer's Hessian");
        }
        int rows = p.rows();
        int cols = p.cols();
        int[] perm = s.actOrder() ? ErrorFeedback.orderByDiagonal(p.hessian(), cols) : null;
        float[] w = permuteColumns(p.weight(), rows, cols, perm);
        double[] h = perm == null ? p.hessian() : permuteSymmetric(p.hessian(), cols, perm);
        long t = Phases.start();
        double[] u = Linalg.inverseCholeskyUpperDamped(p.backend(), h, cols, p.name());
        Phases.stop("gptq.factor", t);
        int g = s.groupSize() <= 0 ? cols : s.groupSize();
        int groups = (cols + g - 1) / g;
        int[] codes = new int[rows * cols];
        float[] scales = new float[rows * groups];
        int[] zeros = new int[rows * groups];
        Rtn.Grid[] grid = new Rtn.Grid[rows];
        int bs = Math.min(s.blockSize(), cols);
        float[] block = new float[rows * bs];
        float[] err = new float[rows * bs];
        double[] ub = new double[bs * bs];
        try (ResidentFeedback fb = new ResidentFeedback(p.backend(), w, rows, cols, bs)) {
            for (int i1 = 0; i1 < cols; i1 += bs) {
                int i2 = Math.min(cols, i1 + bs);
                int width = i2 - i1;
                fb.readColumns(i1, i2, block);
                // a group that starts in this block and ends past it takes its grid from W's later
                // columns as they are now (after the lazy updates so far)
                int ext = i2;
                for (int j = (i1 + g - 1) / g * g; j < i2; j += g) {
                    ext = Math.max(ext, Math.min(cols, j + g));
                }
                float[] extra = ext > i2 ? new float[rows * (ext - i2)] : null;
                if (extra != null) {
                    fb.readColumns(i2, ext, extra);
                }
                for (int a = 0; a < width; a++) {
                    System.arraycopy(u, (i1 + a) * cols + i1, ub, a * width, width);
                }
                t = Phases.start();
                Block blk = new Block(block, err, ub, width, i1, extra, ext - i2, cols, g, groups, s.bits(),
                        s.symmetric(), codes, scales, zeros, grid);
                Parallel.forChunks(0, rows, ROWS_PER_CHUNK, blk::rows);
                Phases.stop("gptq.inblock", t);
                fb.update(u, err, i1, i2);
            }
        }
        PackedMatrixBuilder b = PackedMatrix.builder(rows, cols).method(name())
                .scalar("", 0, cols, s.bits(), g, s.symmetric(), codes, scales, zeros);
        return (perm == null ? b : b.permutation(perm)).build();
    }

    /** Rows per parallel chunk of the in-block step (fixed, so chunks never depend on timing). */
    private static final int ROWS_PER_CHUNK = 16;

    /**
     * The in-block step for one block of columns [i1, i1 + width): rows are independent given U,
     * so each row runs its columns left to right alone (GPTQ's column loop, transposed), on the
     * block's columns copied out of W (row-major, row stride width). Per row and column it does
     * exactly what the scalar loop did (same grid, same rounding, same float/double casts), so
     * the codes are bit for bit those of the column-major scalar loop at any thread count.
     *
     * @param extra W's columns [i1 + width, i1 + width + extraWidth) for a group's grid that
     *              reaches past the block (null when none does)
     * @param ub    U[i1:i2, i1:i2] (width × width, row-major)
     */
    private record Block(float[] w, float[] err, double[] ub, int width, int i1, float[] extra, int extraWidth,
                         int cols, int g, int groups, int bits, boolean symmetric, int[] codes, float[] scales,
                         int[] zeros, Rtn.Grid[] grid) {
        void rows(int lo, int hi) {
            float[] span = extra == null ? null : new float[g];
            for (int r = lo; r < hi; r++) {
                int ro = r * width;
                for (int jj = 0; jj < width; jj++) {
                    int j = i1 + jj;
                    if (j % g == 0) {
                        grid[r] = grid(r, jj, Math.min(cols, j + g) - i1, span);
                        scales[r * groups + j / g] = grid[r].scale();
                        zeros[r * groups + j / g] = grid[r].zero();
                    }
                    int at = ro + jj;
                    int q = grid[r].quantize(w[at]);
                    codes[r * cols + j] = q;
                    float deq = grid[r].dequantize(q);
                    float e = (float) ((w[at] - deq) / ub[jj * width + jj]);
                    w[at] = deq;
                    err[at] = e;
                    ErrorFeedback.subtractScaled(w, at + 1, e, ub, jj * width + jj + 1, width - jj - 1);
                }
            }
        }

        /** The grid of row r's group over block columns [from, to) (to may pass the block: then extra's). */
        private Rtn.Grid grid(int r, int from, int to, float[] span) {
            if (to <= width) {
                return Rtn.grid(w, r * width + from, r * width + to, bits, symmetric);
            }
            int in = width - from;
            System.arraycopy(w, r * width + from, span, 0, in);
            System.arraycopy(extra, r * extraWidth, span, in, to - width);
            return Rtn.grid(span, 0, in + to - width, bits, symmetric);
        }
    }

    private static float[] permuteColumns(float[] w, int rows, int cols, int[] perm) {
        if (perm == null) {
            return w.clone();
        }
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                out[r * cols + c] = w[r * cols + perm[c]];
            }
        }
        return out;
    }

    private static double[] permuteSymmetric(double[] h, int n, int[] perm) {
        double[] out = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                out[i * n + j] = h[perm[i] * n + perm[j]];
            }
        }
        return out;
    }
}
