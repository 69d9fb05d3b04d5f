package io.vq4j.kernels.feedback;

import io.vq4j.core.Parallel;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * GPTVQ's in-block step (io.vq4j.kernels.Backend#gptvqBlock), the CPU's code: the reference every
 * device kernel (feedback.cl's gptvq_block) follows operation by operation. The GPTVQ paper's
 * Algorithm 1, lines 5–13, d columns at a time: for each slice of d columns of the block, every
 * row's sub-vector (divided by its block-norm scale s) goes to the nearest centroid of its row
 * block's codebook under Σ_t D_t·s²·(x_t − c_t)² ({@link Nearest}, the SPI's assignNearest, whose
 * distance is defined to the bit); then per row q_t = c_t·s, δ_t = w_t − q_t (float),
 * E = δ U_PP⁻¹ by forward substitution in double (U_PP upper triangular: e_t = (δ_t − Σ_{a&lt;t}
 * e_a·U_{a,t}) / U_{t,t}, a in order, no fused multiply-add), and the block's later columns l get
 * w_l −= (float) Σ_t e_t·U_{t,l} (the sum in double from 0, t in order). Rows are independent
 * given U, so they run in parallel in fixed chunks of {@link #ROWS_PER_CHUNK}.
 */
public final class GptvqBlock {
    /** Rows per parallel chunk (fixed, so chunks never depend on timing). */
    public static final int ROWS_PER_CHUNK = 16;
    /** The largest sub-vector length the step takes (the SPI's assignment goes to 16). */
    public static final int MAX_DIM = 16;

    private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
    /** As many float lanes as DS has double lanes, for the D2F conversion. */
    private static final VectorSpecies<Float> FS = VectorSpecies.of(float.class,
            VectorShape.forBitSize(DS.vectorBitSize() / 2));

    private GptvqBlock() {
    }

    /** The nearest-centroid search of the step: {@link io.vq4j.kernels.Backend#assignNearest}'s contract. */
    @FunctionalInterface
    public interface Nearest {
        void assign(float[] vectors, float[] weights, int n, int d, float[] codebook, int k, int[] index,
                    float[] distance);
    }

    /** Checks Backend#gptvqBlock's arguments (the same on every backend): W rows × cols, E errRows × errCols. */
    public static void check(int rows, int cols, int errRows, int errCols, int i1, int i2, double[] ub, double[] dw,
                             int d, float[] books, int k, int gRows, float[] scales, int[] indices) {
        int width = i2 - i1;
        if (d < 1 || d > MAX_DIM) {
            throw new IllegalArgumentException("gptvqBlock: d must be 1.." + MAX_DIM + ", got " + d);
        }
        if (i1 < 0 || i2 <= i1 || i2 > cols || i1 % d != 0 || width % d != 0 || cols % d != 0) {
            throw new IllegalArgumentException("gptvqBlock: columns [" + i1 + ", " + i2 + ") of " + cols
                    + " in slices of " + d);
        }
        if (k < 1 || gRows < 1 || rows % gRows != 0) {
            throw new IllegalArgumentException("gptvqBlock: " + k + " centroids, codebooks of " + gRows + " rows for "
                    + rows + " rows");
        }
        if (ub.length < (long) width * width || dw.length < width || books.length < (long) rows / gRows * k * d
                || indices.length < (long) rows * (cols / d) || scales != null && scales.length < (long) rows * (width / d)) {
            throw new IllegalArgumentException("gptvqBlock: " + ub.length + " values of U, " + dw.length
                    + " weights for a block of " + width + ", " + books.length + " codebook values, " + indices.length
                    + " indices" + (scales == null ? "" : ", " + scales.length + " scales") + " for " + rows + "x"
                    + cols + ", d=" + d + ", k=" + k);
        }
        if (errRows != rows || errCols < width) {
            throw new IllegalArgumentException("gptvqBlock: errors " + errRows + "x" + errCols + " for " + rows
                    + " rows and a block of " + width);
        }
    }

    /**
     * The step on host copies (the SPI's default, and so the CPU backend's): {@code block} holds
     * W's columns [i1, i2) (rows × width, row-major; overwritten), the scaled errors go to
     * {@code err} (rows × width), the indices to {@code indices} (rows × cols/d, at column i1/d).
     *
     * @param dw     D_t = 1/[H⁻¹]_tt of the block's columns (width values)
     * @param books  the codebooks of the block's column group, one per row block of gRows rows
     *               ((rows/gRows) × k × d, in the normalised space)
     * @param scales each row's block-norm scale of each slice (rows × width/d), or null for none
     *               (1: the same bits)
     */
    public static void run(Nearest nearest, float[] block, float[] err, int rows, int cols, int i1, int i2,
                           double[] ub, double[] dw, int d, float[] books, int k, int gRows, float[] scales,
                           int[] indices) {
        int width = i2 - i1;
        int per = width / d;
        int perRow = cols / d;
        int rowBlocks = rows / gRows;
        float[][] book = new float[rowBlocks][];
        for (int rb = 0; rb < rowBlocks; rb++) {
            book[rb] = rowBlocks == 1 ? books : Arrays.copyOfRange(books, rb * k * d, (rb + 1) * k * d);
        }
        float[] x = new float[rows * d];
        float[] wt = new float[rows * d];
        int[] idx = new int[rows];
        float[] dist = new float[rows];
        int[] is = rowBlocks == 1 ? idx : new int[gRows];
        float[] ds = rowBlocks == 1 ? dist : new float[gRows];
        for (int v = 0; v < per; v++) {
            int jj = v * d;
            for (int r = 0; r < rows; r++) {
                float sc = scales == null ? 1f : scales[r * per + v];
                for (int t = 0; t < d; t++) {
                    x[r * d + t] = block[r * width + jj + t] / sc;
                    wt[r * d + t] = (float) (dw[jj + t] * sc * sc);
                }
            }
            for (int rb = 0; rb < rowBlocks; rb++) { // each row block has its own codebook
                if (rowBlocks == 1) {
                    nearest.assign(x, wt, rows, d, book[0], k, idx, dist);
                } else {
                    float[] xs = Arrays.copyOfRange(x, rb * gRows * d, (rb + 1) * gRows * d);
                    float[] ws = Arrays.copyOfRange(wt, rb * gRows * d, (rb + 1) * gRows * d);
                    nearest.assign(xs, ws, gRows, d, book[rb], k, is, ds);
                    System.arraycopy(is, 0, idx, rb * gRows, gRows);
                }
            }
            Parallel.forChunks(0, rows, ROWS_PER_CHUNK, (lo, hi) -> {
                for (int r = lo; r < hi; r++) {
                    feedback(block, err, r, width, jj, d, ub, book[r / gRows], idx[r],
                            scales == null ? 1f : scales[r * per + jj / d]);
                    indices[r * perRow + (i1 + jj) / d] = idx[r];
                }
            });
        }
    }

    /** Row r's slice at block column jj: its centroid c, the error by substitution, the feedback to the block. */
    private static void feedback(float[] w, float[] err, int r, int width, int jj, int d, double[] ub, float[] book,
                                 int c, float sc) {
        double[] e = new double[d];
        int ro = r * width;
        for (int t = 0; t < d; t++) {
            int at = ro + jj + t;
            float q = book[c * d + t] * sc;
            double delta = w[at] - q;
            w[at] = q;
            // e U_PP = delta, U_PP upper triangular: forward substitution
            double s = delta;
            for (int a = 0; a < t; a++) {
                s -= e[a] * ub[(jj + a) * width + jj + t];
            }
            e[t] = s / ub[(jj + t) * width + jj + t];
            err[at] = (float) e[t];
        }
        subtractCombination(w, ro + jj + d, e, d, ub, jj * width + jj + d, width, width - jj - d);
    }

    /**
     * The in-block feedback of d columns' errors along a row: for i &lt; n,
     * w[wo + i] −= (float) Σ_t e[t] · u[uo + t·ldu + i], the sum in double over t = 0..d−1 in
     * order from 0 (a multiply, then an add: no fused multiply-add), lane by lane, so the bits are
     * those of {@link #subtractCombinationScalar}.
     */
    public static void subtractCombination(float[] w, int wo, double[] e, int d, double[] u, int uo, int ldu, int n) {
        int i = 0;
        int step = DS.length();
        int bound = DS.loopBound(Math.max(0, n));
        for (; i < bound; i += step) {
            DoubleVector acc = DoubleVector.zero(DS);
            for (int t = 0; t < d; t++) {
                acc = acc.add(DoubleVector.fromArray(DS, u, uo + t * ldu + i).mul(e[t]));
            }
            FloatVector upd = (FloatVector) acc.convertShape(VectorOperators.D2F, FS, 0);
            FloatVector.fromArray(FS, w, wo + i).sub(upd).intoArray(w, wo + i);
        }
        for (; i < n; i++) {
            double upd = 0;
            for (int t = 0; t < d; t++) {
                upd += e[t] * u[uo + t * ldu + i];
            }
            w[wo + i] -= (float) upd;
        }
    }

    /** The scalar reference of {@link #subtractCombination} (gptvq's loop as it was). */
    public static void subtractCombinationScalar(float[] w, int wo, double[] e, int d, double[] u, int uo, int ldu,
                                                 int n) {
        for (int i = 0; i < n; i++) {
            double upd = 0;
            for (int t = 0; t < d; t++) {
                upd += e[t] * u[uo + t * ldu + i];
            }
            w[wo + i] -= (float) upd;
        }
    }
}
