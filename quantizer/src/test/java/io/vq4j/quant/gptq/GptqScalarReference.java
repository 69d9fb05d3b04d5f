package io.vq4j.quant.gptq;

import io.vq4j.kernels.Backend;
import io.vq4j.quant.core.ErrorFeedback;
import io.vq4j.quant.core.Linalg;
import io.vq4j.quant.core.Rtn;

/**
 * gptq's loop as it was before the row-parallel, vectorised in-block step and the resident lazy
 * update (a scalar host loop over columns, then rows; the lazy update on copies of W's tail and
 * a float slice of U, through the array gemm), kept as the reference the new loop must match
 * bit for bit.
 */
final class GptqScalarReference {
    record Result(int[] codes, float[] scales, int[] zeros) {
    }

    private GptqScalarReference() {
    }

    /** w: rows × cols, already permuted; h: cols × cols, already permuted. */
    static Result quantize(Backend backend, float[] weight, double[] h, int rows, int cols, int bits, int groupSize,
                           boolean symmetric, int bs) {
        float[] w = weight.clone();
        double[] u = Linalg.inverseCholeskyUpperDamped(backend, h, cols, "ref");
        int g = groupSize <= 0 ? cols : groupSize;
        int groups = (cols + g - 1) / g;
        int[] codes = new int[rows * cols];
        float[] scales = new float[rows * groups];
        int[] zeros = new int[rows * groups];
        Rtn.Grid[] grid = new Rtn.Grid[rows];
        for (int i1 = 0; i1 < cols; i1 += bs) {
            int i2 = Math.min(cols, i1 + bs);
            int width = i2 - i1;
            float[] err = new float[rows * width];
            for (int j = i1; j < i2; j++) {
                if (j % g == 0) {
                    int gi = j / g;
                    int end = Math.min(cols, j + g);
                    for (int r = 0; r < rows; r++) {
                        grid[r] = Rtn.grid(w, r * cols + j, r * cols + end, bits, symmetric);
                        scales[r * groups + gi] = grid[r].scale();
                        zeros[r * groups + gi] = grid[r].zero();
                    }
                }
                double ujj = u[j * cols + j];
                for (int r = 0; r < rows; r++) {
                    int at = r * cols + j;
                    int q = grid[r].quantize(w[at]);
                    codes[at] = q;
                    float deq = grid[r].dequantize(q);
                    float e = (float) ((w[at] - deq) / ujj);
                    w[at] = deq;
                    err[r * width + (j - i1)] = e;
                    for (int l = j + 1; l < i2; l++) {
                        w[r * cols + l] -= (float) (e * u[j * cols + l]);
                    }
                }
            }
            lazyUpdate(backend, w, rows, cols, u, err, i1, i2);
        }
        return new Result(codes, scales, zeros);
    }

    /** The old {@link ErrorFeedback} lazy update: W[:, i2:] −= Err · U[i1:i2, i2:] on copies. */
    static void lazyUpdate(Backend backend, float[] w, int rows, int cols, double[] u, float[] err, int i1, int i2) {
        int rest = cols - i2;
        if (rest == 0) {
            return;
        }
        int width = i2 - i1;
        float[] ub = new float[width * rest];
        for (int a = 0; a < width; a++) {
            for (int b = 0; b < rest; b++) {
                ub[a * rest + b] = (float) u[(i1 + a) * cols + i2 + b];
            }
        }
        float[] tail = new float[rows * rest];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(w, r * cols + i2, tail, r * rest, rest);
        }
        backend.gemm(false, false, rows, rest, width, -1f, err, ub, 1f, tail);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(tail, r * rest, w, r * cols + i2, rest);
        }
    }
}
