package io.vq4j.kernels.cpu;

import io.vq4j.core.Parallel;
import io.vq4j.kernels.assign.GemmAssign;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * The matmul form of the assignment on the CPU ({@link GemmAssign}): the codebook's operand packed
 * once for the CPU's gemm ({@link PackedMatmul}; unweighted −2c with ‖c‖² as the bias, which is
 * [−2c, ‖c‖²] · [x, 1] in the same rounding), then for each block of 64 vectors the scores of a
 * tile of centroids at a time (64 × {@link #TILE} floats, in L2) and a running first-least scan of
 * each tile. Every score is computed in PackedMatmul's fixed order and the scan is exact, so the
 * indices do not depend on the thread count.
 */
final class AssignGemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, S.vectorShape());
    private static final IntVector LANES = IntVector.zero(IS).addIndex(1);
    /** Vectors per block. */
    private static final int ROWS = 64;
    /** Centroids per tile: a whole number of PackedMatmul's panel pairs. */
    static final int TILE = Math.max(PackedMatmul.pairWidth(), 1024 / PackedMatmul.pairWidth() * PackedMatmul.pairWidth());

    private AssignGemm() {
    }

    static void run(float[] vectors, float[] weights, int n, int d, float[] codebook, int k, int[] index,
                    float[] distance) {
        boolean weighted = weights != null;
        int m = weighted ? 2 * d : d;
        float[] op;
        float[] bias = null;
        if (weighted) {
            op = GemmAssign.codebookOperand(codebook, k, d, true);
        } else {
            op = new float[k * d];
            bias = new float[k];
            for (int c = 0; c < k; c++) {
                for (int j = 0; j < d; j++) {
                    op[c * d + j] = -2f * codebook[c * d + j];
                }
                bias[c] = GemmAssign.norm(codebook, c, d);
            }
        }
        PackedMatmul pm = PackedMatmul.pack(op, k, m);
        float[] norms = bias;
        int pairsPerTile = TILE / PackedMatmul.pairWidth();
        Parallel.forChunks(0, (n + ROWS - 1) / ROWS, 1, (lo, hi) -> {
            float[] scores = new float[ROWS * TILE];
            float[] best = new float[ROWS];
            int[] at = new int[ROWS];
            for (int b = lo; b < hi; b++) {
                int from = b * ROWS;
                int rows = Math.min(ROWS, n - from);
                float[] x = weighted ? GemmAssign.vectorOperand(vectors, weights, from, rows, d) : vectors;
                int xo = weighted ? 0 : from * d;
                Arrays.fill(best, Float.POSITIVE_INFINITY);
                Arrays.fill(at, 0);
                for (int c0 = 0, p = 0; c0 < k; c0 += TILE, p += pairsPerTile) {
                    int width = Math.min(TILE, k - c0);
                    pm.multiplyPanelPairs(x, xo, m, rows, p, p + pairsPerTile, norms, scores, 0, TILE);
                    for (int r = 0; r < rows; r++) {
                        scan(scores, r * TILE, width, c0, r, best, at);
                    }
                }
                GemmAssign.finish(vectors, weights, from, rows, d, codebook, best, at, index, distance);
            }
        });
    }

    /**
     * Folds scores[o, o + width) (centroids c0 …) into row r's running least: lane l keeps the
     * least of the positions ≡ l (mod L) by strict <, the lanes' first least is the tile's, and a
     * later tile replaces the running one only when strictly less: the first least of a scan from 0.
     */
    private static void scan(float[] s, int o, int width, int c0, int r, float[] best, int[] at) {
        int vw = width / L * L;
        float m = Float.POSITIVE_INFINITY;
        int mi = 0;
        if (vw > 0) {
            FloatVector bv = FloatVector.broadcast(S, Float.POSITIVE_INFINITY);
            IntVector bi = IntVector.zero(IS);
            for (int t = 0; t < vw; t += L) {
                FloatVector v = FloatVector.fromArray(S, s, o + t);
                VectorMask<Float> less = v.compare(VectorOperators.LT, bv);
                bv = bv.blend(v, less);
                bi = bi.blend(LANES.add(t), less.cast(IS));
            }
            m = bv.reduceLanes(VectorOperators.MIN);
            if (m < Float.POSITIVE_INFINITY) {
                mi = bi.blend(Integer.MAX_VALUE, bv.compare(VectorOperators.EQ, m).not().cast(IS))
                        .reduceLanes(VectorOperators.MIN);
            }
        }
        for (int t = vw; t < width; t++) {
            if (s[o + t] < m) {
                m = s[o + t];
                mi = t;
            }
        }
        if (m < best[r]) {
            best[r] = m;
            at[r] = c0 + mi;
        }
    }
}
