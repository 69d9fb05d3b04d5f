package io.vq4j.quant.vptq;

import io.vq4j.kernels.Backend;
import java.util.List;

/**
 * One GPTQ pass of VPTQ (VPTQ §3, Alg. 1): quantize the (permuted, normalised) matrix one
 * column at a time, each column's rows/d sub-vectors of d consecutive rows going to their
 * nearest centroid, then spread the column's error over the columns not yet quantized with the
 * upper Cholesky factor U of H⁻¹ — exactly GPTQ with a block of one column, which is what
 * vectors along the output dimension allow.
 *
 * <p>Works on the transposed matrix Wᵀ (cols × rows), so a column is one contiguous run and its
 * sub-vectors are already laid out as the vectors of {@link io.vq4j.kernels.packed.Axis#OUT}.
 *
 * <p>Residual stages are quantized greedily within the column: stage 1 takes the centroid
 * nearest to the column's vector, stage s the one nearest to what stages 1..s−1 left; the
 * column's value is the sum of the chosen centroids, in stage order and in float — the order
 * the dequantizer sums them in, so the matrix this pass ends with is bit for bit what the
 * stored layer rebuilds.
 *
 * <p>Why no weights in the nearest-centroid search: the Hessian-weighted distance of a
 * sub-vector of column c is Σ_j H_cc (x_j − c_j)², every dimension carrying the same H_cc, so
 * within one column it ranks centroids exactly as the plain distance does.
 */
final class VptqPass {
    private VptqPass() {
    }

    /**
     * A column range [from, to) of the working matrix and its codebooks, one per stage, each
     * k_s × d values already rounded to their storage format.
     */
    record Segment(int from, int to, List<float[]> codebooks, int[] k) {
    }

    /**
     * @param qt       the quantized matrix, transposed (cols × rows)
     * @param residual per column, the weights as fed back at the moment the column was quantized
     *                 minus their quantized value (cols × rows): the error the next residual
     *                 codebook is fitted to
     * @param indices  [segment][stage] → one index per vector of the segment, column-major over
     *                 (column, row / d)
     */
    record Result(float[] qt, float[] residual, int[][][] indices) {
    }

    /**
     * @param wt        Wᵀ, cols × rows; not modified
     * @param u         upper Cholesky factor of H⁻¹ (cols × cols, double, row-major)
     * @param blockSize lazy-update block width B: inside a block the feedback goes column by
     *                  column, to the columns after the block as one gemm per block
     */
    static Result run(Backend backend, float[] wt, int rows, int cols, int d, double[] u, int blockSize,
                      List<Segment> segments) {
        float[] w = wt.clone();
        float[] qt = new float[cols * rows];
        float[] residual = new float[cols * rows];
        int vectorsPerColumn = rows / d;
        int[][][] indices = new int[segments.size()][][];
        int[] segmentOf = new int[cols];
        for (int s = 0; s < segments.size(); s++) {
            Segment seg = segments.get(s);
            indices[s] = new int[seg.codebooks().size()][(seg.to() - seg.from()) * vectorsPerColumn];
            for (int c = seg.from(); c < seg.to(); c++) {
                segmentOf[c] = s;
            }
        }
        float[] target = new float[rows];
        int[] index = new int[vectorsPerColumn];
        float[] distance = new float[vectorsPerColumn];
        int b = Math.max(1, blockSize);
        for (int b0 = 0; b0 < cols; b0 += b) {
            int b1 = Math.min(cols, b0 + b);
            float[] errors = new float[(b1 - b0) * rows]; // (column − quantized) / U_cc, one row per column
            for (int c = b0; c < b1; c++) {
                int s = segmentOf[c];
                Segment seg = segments.get(s);
                int at = c * rows;
                System.arraycopy(w, at, target, 0, rows);
                for (int stage = 0; stage < seg.codebooks().size(); stage++) {
                    float[] cb = seg.codebooks().get(stage);
                    backend.assignNearest(target, null, vectorsPerColumn, d, cb, seg.k()[stage], index, distance);
                    int[] out = indices[s][stage];
                    int base = (c - seg.from()) * vectorsPerColumn;
                    for (int v = 0; v < vectorsPerColumn; v++) {
                        out[base + v] = index[v];
                        for (int j = 0; j < d; j++) {
                            qt[at + v * d + j] += cb[index[v] * d + j];
                        }
                    }
                    for (int r = 0; r < rows; r++) { // what the next stage quantizes
                        target[r] = w[at + r] - qt[at + r];
                    }
                }
                float ucc = (float) u[c * cols + c];
                int e = (c - b0) * rows;
                for (int r = 0; r < rows; r++) {
                    float diff = w[at + r] - qt[at + r];
                    residual[at + r] = diff;
                    errors[e + r] = diff / ucc;
                }
                for (int j = c + 1; j < b1; j++) { // GPTQ: W[:, j] −= err · U[c, j], inside the block
                    float ucj = (float) u[c * cols + j];
                    if (ucj != 0f) {
                        int aj = j * rows;
                        for (int r = 0; r < rows; r++) {
                            w[aj + r] -= errors[e + r] * ucj;
                        }
                    }
                }
            }
            if (b1 < cols) {
                lazyUpdate(backend, w, rows, cols, u, b0, b1, errors);
            }
        }
        return new Result(qt, residual, indices);
    }

    /**
     * The columns after the block, all at once: Wᵀ[b1:, :] −= U[b0:b1, b1:]ᵀ · E, with E the
     * block's errors ((b1 − b0) × rows) — one gemm.
     */
    private static void lazyUpdate(Backend backend, float[] w, int rows, int cols, double[] u, int b0, int b1,
                                   float[] errors) {
        int width = b1 - b0;
        int rest = cols - b1;
        float[] ub = new float[width * rest];
        for (int i = 0; i < width; i++) {
            for (int j = 0; j < rest; j++) {
                ub[i * rest + j] = (float) u[(b0 + i) * cols + b1 + j];
            }
        }
        float[] tail = new float[rest * rows];
        System.arraycopy(w, b1 * rows, tail, 0, tail.length);
        backend.gemm(true, false, rest, rows, width, -1f, ub, errors, 1f, tail);
        System.arraycopy(tail, 0, w, b1 * rows, tail.length);
    }
}
