package io.vq4j.quant.gptq;

import io.vq4j.core.Phases;
import io.vq4j.kernels.feedback.GptqBlock;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedMatrixBuilder;
import io.vq4j.quant.core.Checks;
import io.vq4j.quant.core.ErrorFeedback;
import io.vq4j.quant.core.Linalg;
import io.vq4j.quant.core.ResidentFeedback;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.QuantSpec;


/**
 * Method "gptq": scalar quantization with GPTQ's error feedback (Frantar et al. 2022, as the
 * GPTVQ paper recalls it in §2). With U the upper Cholesky factor of H⁻¹ (UᵀU = H⁻¹), columns
 * are quantized left to right; column j's scaled error e = (w_j − q_j) / U_jj is fed to the
 * not-yet-quantized columns as w_l −= e · U_jl. Inside a block of B columns this happens column
 * by column; the rest of the matrix gets the whole block's errors at once, as one gemm on the
 * backend (the "lazy batch" update). A group's grid (scale and zero per row,
 * {@link io.vq4j.kernels.feedback.ScalarGrid#of}) is fixed when the loop reaches the group's first
 * column, from the weights as they are then. The in-block step is one backend operation per block
 * ({@link io.vq4j.kernels.Backend#gptqBlock}) on the resident W, whose errors stay resident for the
 * lazy update; the CPU's is {@link GptqBlock}, which every device kernel matches bit for bit.
 * With act-order, columns are taken in order of decreasing diag H (ties in index order) and
 * the permutation is stored with the layer; groups are then runs of permuted columns.
 */
public final class Gptq implements Method.Algorithm<GptqOptions> {
    public static final Method<GptqOptions> METHOD = Method.scalarWithoutSeed("gptq", GptqOptions.class, true,
            GptqOptions.TABLE, new Gptq());

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
        int groups = GptqBlock.groups(s.groupSize(), cols);
        int[] codes = new int[rows * cols];
        float[] scales = new float[rows * groups];
        int[] zeros = new int[rows * groups];
        int bs = Math.min(s.blockSize(), cols);
        double[] ub = new double[bs * bs];
        try (ResidentFeedback fb = new ResidentFeedback(p.backend(), w, rows, cols, bs)) {
            for (int i1 = 0; i1 < cols; i1 += bs) {
                int i2 = Math.min(cols, i1 + bs);
                int width = i2 - i1;
                for (int a = 0; a < width; a++) {
                    System.arraycopy(u, (i1 + a) * cols + i1, ub, a * width, width);
                }
                t = Phases.start();
                p.backend().gptqBlock(fb.weights(), i1, i2, ub, s.bits(), s.groupSize(), s.symmetric(), codes,
                        scales, zeros, fb.errors());
                Phases.stop("gptq.inblock", t);
                fb.update(u, i1, i2);
            }
        }
        PackedMatrixBuilder b = PackedMatrix.builder(rows, cols).method(name())
                .scalar("", 0, cols, s.bits(), GptqBlock.groupWidth(s.groupSize(), cols), s.symmetric(), codes, scales,
                        zeros);
        return (perm == null ? b : b.permutation(perm)).build();
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
