package io.vq4j.kernels.assign;

import java.util.Arrays;

/**
 * The matmul form of the assignment, the parts every backend shares (issue 17, item 1): the
 * distance Σ_j w_j (x_j − c_j)² is Σ w x² + Σ w c² − 2 Σ w x c, and Σ w x² is the same for
 * every centroid, so the nearest centroid is the least score
 * <pre>
 *   unweighted  s(x, c) = ‖c‖² − 2 x·c           = [x, 1]   · [−2c, ‖c‖²]
 *   weighted    s(x, c) = Σ w c² − 2 Σ (w x) c    = [w∘x, w] · [−2c, c∘c]
 * </pre>
 * one gemm of the vectors' operand (n × {@link #width}) by the codebook's (k × width) transposed;
 * the argmin then scans the product tile by tile, never the whole n × k at once. The scores are
 * rounded differently from the exact kernel's fma distance (the gemm's own order, the
 * cancellation of −2x·c against ‖c‖²), so the index may differ where two centroids are within
 * that rounding of each other; the reported distance is then recomputed by the definition
 * ({@link #distance}) for the chosen centroid.
 */
public final class GemmAssign {
    /**
     * Vectors and centroids per tile on a GPU backend: fixed, so a call's gemms, and so its scores,
     * are the same on every run (a library may choose its kernel, and its order, by shape); a
     * tile of scores is 4096 × 4096 floats, 64 MiB.
     */
    public static final int VECTOR_TILE = 4096;
    public static final int CENTROID_TILE = 4096;

    private GemmAssign() {
    }

    /** Columns of the operands: d + 1 unweighted ([x, 1]), 2d weighted ([w∘x, w]). */
    public static int width(int d, boolean weighted) {
        return weighted ? 2 * d : d + 1;
    }

    /** ‖c‖² of centroid c, summed by fma in dimension order. */
    public static float norm(float[] codebook, int c, int d) {
        float s = 0f;
        for (int j = 0; j < d; j++) {
            float v = codebook[c * d + j];
            s = Math.fma(v, v, s);
        }
        return s;
    }

    /** The codebook's operand, k × {@link #width}: [−2c, ‖c‖²], weighted [−2c, c∘c] (−2c is exact). */
    public static float[] codebookOperand(float[] codebook, int k, int d, boolean weighted) {
        int m = width(d, weighted);
        float[] o = new float[Math.multiplyExact(k, m)];
        for (int c = 0; c < k; c++) {
            for (int j = 0; j < d; j++) {
                float v = codebook[c * d + j];
                o[c * m + j] = -2f * v;
                if (weighted) {
                    o[c * m + d + j] = v * v;
                }
            }
            if (!weighted) {
                o[c * m + d] = norm(codebook, c, d);
            }
        }
        return o;
    }

    /** Vectors [from, from + count) as the vectors' operand, count × {@link #width}: [x, 1], weighted [w∘x, w]. */
    public static float[] vectorOperand(float[] vectors, float[] weights, int from, int count, int d) {
        boolean weighted = weights != null;
        int m = width(d, weighted);
        float[] o = new float[Math.multiplyExact(count, m)];
        for (int r = 0; r < count; r++) {
            int i = (from + r) * d;
            for (int j = 0; j < d; j++) {
                if (weighted) {
                    o[r * m + j] = weights[i + j] * vectors[i + j];
                    o[r * m + d + j] = weights[i + j];
                } else {
                    o[r * m + j] = vectors[i + j];
                }
            }
            if (!weighted) {
                o[r * m + d] = 1f;
            }
        }
        return o;
    }

    /**
     * The distance of vector i to centroid c as Backend#assignNearest defines it, to the bit:
     * acc = 0; for j in order, diff = c_j − x_ij, acc = fma(diff, diff, acc) (weighted:
     * fma(w_ij · diff, diff, acc)).
     */
    public static float distance(float[] vectors, float[] weights, int i, int d, float[] codebook, int c) {
        float acc = 0f;
        for (int j = 0; j < d; j++) {
            float diff = codebook[c * d + j] - vectors[i * d + j];
            acc = weights == null ? Math.fma(diff, diff, acc) : Math.fma(weights[i * d + j] * diff, diff, acc);
        }
        return acc;
    }

    /** An array gemm, as Backend#gemm: C = alpha · op(A) · op(B) + beta · C. */
    @FunctionalInterface
    public interface Gemm {
        void run(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, float[] b, float beta,
                 float[] c);
    }

    /**
     * The matmul form through any array gemm: per tile of {@link #VECTOR_TILE} vectors and
     * {@link #CENTROID_TILE} centroids the scores (centroids × vectors) by one gemm, scanned on the
     * host into each vector's running least (strict <, centroids in order).
     */
    public static void viaGemm(Gemm gemm, float[] vectors, float[] weights, int n, int d, float[] codebook, int k,
                               int[] index, float[] distance) {
        if (n == 0) {
            return;
        }
        boolean weighted = weights != null;
        int m = width(d, weighted);
        float[] cb = codebookOperand(codebook, k, d, weighted);
        int nt = Math.min(n, VECTOR_TILE);
        int kt = Math.min(k, CENTROID_TILE);
        float[] scores = new float[nt * kt];
        float[] best = new float[nt];
        int[] at = new int[nt];
        float[] cTile = new float[kt * m];
        for (int from = 0; from < n; from += nt) {
            int rows = Math.min(nt, n - from);
            float[] x = vectorOperand(vectors, weights, from, rows, d);
            Arrays.fill(best, Float.POSITIVE_INFINITY);
            Arrays.fill(at, 0);
            for (int c0 = 0; c0 < k; c0 += kt) {
                int cols = Math.min(kt, k - c0);
                float[] c = cols == kt && c0 == 0 && cols == k ? cb : cTile;
                if (c != cb) {
                    System.arraycopy(cb, c0 * m, cTile, 0, cols * m);
                }
                gemm.run(false, true, cols, rows, m, 1f, c, x, 0f, scores); // scores[t · rows + r]
                for (int t = 0; t < cols; t++) {
                    for (int r = 0; r < rows; r++) {
                        float v = scores[t * rows + r];
                        if (v < best[r]) {
                            best[r] = v;
                            at[r] = c0 + t;
                        }
                    }
                }
            }
            finish(vectors, weights, from, rows, d, codebook, best, at, index, distance);
        }
    }

    /**
     * Writes index[i] and distance[i] for vectors [from, from + count) from each one's least
     * score (bestScore[r], at bestIndex[r], r = i − from): the distance by the definition; where
     * no score was below infinity, or the chosen centroid's distance is not (NaN or infinite
     * inputs, overflow), centroid 0 at +∞, as the exact kernel where no distance is below infinity.
     */
    public static void finish(float[] vectors, float[] weights, int from, int count, int d, float[] codebook,
                              float[] bestScore, int[] bestIndex, int[] index, float[] distance) {
        for (int r = 0; r < count; r++) {
            int i = from + r;
            float dist = bestScore[r] < Float.POSITIVE_INFINITY
                    ? distance(vectors, weights, i, d, codebook, bestIndex[r]) : Float.NaN;
            if (dist < Float.POSITIVE_INFINITY) {
                index[i] = bestIndex[r];
                distance[i] = dist;
            } else {
                index[i] = 0;
                distance[i] = Float.POSITIVE_INFINITY;
            }
        }
    }
}
