package io.vq4j.quant.gptvq;

import io.vq4j.core.Parallel;
import io.vq4j.core.Phases;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.BlockScaleValues;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.pack.Codebooks;
import io.vq4j.quant.core.Checks;
import io.vq4j.quant.core.ErrorFeedback;
import io.vq4j.quant.core.KMeans;
import io.vq4j.quant.core.Linalg;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.QuantSpec;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Method "gptvq": GPTVQ (van Baalen et al., Qualcomm; the seed paper's Algorithms 1–2 and
 * appendices A, G, H). Sub-vectors are d consecutive columns of a row (Axis.IN).
 * <ul>
 *   <li><b>Groups.</b> A codebook serves a group of groupRows × groupCols weights (the paper's
 *       l = rows × m columns; it keeps m ≤ 256 so that initialisation sees earlier updates).
 *       spec.groupSize() is m (0 = all columns), spec.groupRows() the rows (0 = all).</li>
 *   <li><b>Initialisation.</b> When the loop reaches a column group, the lazy updates so far are
 *       applied and each of its codebooks is fitted by EM on the current weights with the
 *       Hessian-weighted distance Σ_j D_j (x_j − c_j)², D_j = 1/[H⁻¹]_jj (equation 4; the
 *       M-step is the per-dimension weighted mean, which is the pseudo-inverse formula for a
 *       diagonal D), seeded by k-means++ or Mahalanobis initialisation; then rounded to its
 *       storage format (fp16 or int8 + scale).</li>
 *   <li><b>Quantization.</b> d columns at a time: every row's slice goes to its nearest centroid
 *       under the same distance (backend.assignNearest); the block's error is
 *       E_P = (W_P − Q_P) U_PP⁻¹ (U the upper Cholesky factor of H⁻¹, solved by substitution per
 *       row), fed to the rest of the lazy block column by column, and to the columns after the
 *       block as one gemm (Algorithm 1 line 14). With d = 1 this is exactly GPTQ.</li>
 *   <li><b>Codebook update</b> (appendix A): with the indices fixed, the codebook entries θ
 *       minimise tr((W − Q(θ)) H (W − Q(θ))ᵀ), a convex quadratic; solved by conjugate gradients
 *       on the normal equations (each step one rows×cols×cols gemm), in double, then rounded to
 *       the storage format. Kept only if it lowers the error (measured after rounding).</li>
 *   <li><b>Blockwise normalisation</b> (appendix H, spec.blockNorm() columns per scale, a
 *       multiple of d): each row's run of columns is divided by a scale s = 2^(offset + code·step)
 *       with a 4-bit code (log domain; offset and step per layer from the weights' range, the
 *       code rounded up so |w/s| ≤ 1 at initialisation). Codebooks live in the normalised space;
 *       the distance weights become D_j·s² so the objective is unchanged.</li>
 * </ul>
 */
public final class Gptvq implements Method.Algorithm<GptvqOptions> {
    public static final Method<GptvqOptions> METHOD = Method.vector("gptvq", Axis.IN, GptvqOptions.class, true,
            GptvqOptions.TABLE, new Gptvq());
    static final int SCALE_BITS = 4;

    private Gptvq() {
    }

    @Override
    public void validate(GptvqOptions s, QuantSpec spec, int rows, int cols) {
        Checks.checkVector(spec, s.dim(), s.centroids(), s.groupRows(), s.groupSize(),
                Checks.ownCodebookSpace(s.groupRows(), s.groupSize(), List.of(), 0, false, s.blockNorm(),
                        s.int8Codebooks()), rows, cols, Axis.IN);
        if (!s.init().equals("kmeans++") && !s.init().equals("mahalanobis")) {
            throw new IllegalArgumentException("--init must be kmeans++ or mahalanobis, got '" + s.init() + "'");
        }
        if (s.blockSize() < 1) {
            throw new IllegalArgumentException("--block-size must be at least 1, got " + s.blockSize());
        }
        if (s.blockNorm() < 0 || s.blockNorm() > 0 && s.blockNorm() % s.dim() != 0) {
            throw new IllegalArgumentException("--block-norm " + s.blockNorm() + " must be a multiple of --dim "
                    + s.dim());
        }
        Checks.checkKMeans(s.iters(), s.tol());
    }

    @Override
    public PackedMatrix quantize(LayerProblem p, GptvqOptions s) {
        if (p.hessian() == null) {
            throw new IllegalArgumentException(p.name() + ": gptvq needs the layer's Hessian");
        }
        int rows = p.rows();
        int cols = p.cols();
        int d = s.dim();
        int k = s.centroids();
        int gRows = s.groupRows() <= 0 ? rows : s.groupRows();
        int gCols = s.groupSize() <= 0 ? cols : s.groupSize();
        int rowBlocks = rows / gRows;
        int colBlocks = cols / gCols;
        int perRow = cols / d;
        CodebookFormat format = s.int8Codebooks() ? CodebookFormat.INT8 : CodebookFormat.F16;

        long t = Phases.start();
        double[] u = Linalg.inverseCholeskyUpperDamped(p.backend(), p.hessian(), cols, p.name());
        Phases.stop("gptvq.factor", t);
        double[] dw = new double[cols]; // D_j = 1 / [H⁻¹]_jj, [H⁻¹]_jj = Σ_i U_ij²
        for (int j = 0; j < cols; j++) {
            double hinv = 0;
            for (int i = 0; i <= j; i++) {
                hinv += u[i * cols + j] * u[i * cols + j];
            }
            dw[j] = 1.0 / hinv;
        }

        float[] w = p.weight().clone();
        int nb = s.blockNorm();
        int scaleBlocks = nb > 0 ? (cols + nb - 1) / nb : 0;
        ScaleGrid scales = nb > 0 ? scaleGrid(p.weight(), rows, cols, nb) : null;
        int[] scaleCodes = nb > 0 ? new int[rows * scaleBlocks] : null;
        float[] scaleOf = new float[rows * cols]; // the stored scale of each weight (1 without normalisation)
        Arrays.fill(scaleOf, 1f);

        float[] codebooks = new float[rowBlocks * colBlocks * k * d];
        float[] cbScales = format == CodebookFormat.INT8 ? new float[rowBlocks * colBlocks] : null;
        int[] indices = new int[rows * perRow];
        int bs = Math.max(d, s.blockSize() / d * d);

        for (int cb = 0; cb < colBlocks; cb++) {
            int c0 = cb * gCols;
            int c1 = c0 + gCols;
            if (nb > 0) { // scales of this column group's blocks, from the current weights
                for (int r = 0; r < rows; r++) {
                    for (int b = c0 / nb; b * nb < c1; b++) {
                        int code = scales.codeFor(maxAbs(w, r * cols + b * nb, r * cols + Math.min(cols, (b + 1) * nb)));
                        scaleCodes[r * scaleBlocks + b] = code;
                        float sc = scales.scale(code);
                        for (int c = b * nb; c < Math.min(cols, (b + 1) * nb); c++) {
                            scaleOf[r * cols + c] = sc;
                        }
                    }
                }
            }
            t = Phases.start();
            for (int rb = 0; rb < rowBlocks; rb++) {
                int g = rb * colBlocks + cb;
                if (p.shared() != null) { // one group; the book was fitted on every sharing layer
                    System.arraycopy(p.shared().book(), 0, codebooks, 0, k * d);
                } else {
                    initCodebook(p, w, scaleOf, dw, rb * gRows, (rb + 1) * gRows, c0, c1, g, codebooks, cbScales,
                            format);
                }
            }
            Phases.stop("gptvq.em", t);
            for (int i1 = c0; i1 < c1; i1 += bs) {
                int i2 = Math.min(c1, i1 + bs);
                int width = i2 - i1;
                float[] err = new float[rows * width];
                t = Phases.start();
                for (int j = i1; j < i2; j += d) {
                    quantizeColumns(p, w, scaleOf, dw, u, j, i2, i1, width, err, codebooks, indices, cb, colBlocks,
                            gRows, perRow);
                }
                Phases.stop("gptvq.inblock", t);
                t = Phases.start();
                ErrorFeedback.lazyUpdate(p, w, rows, cols, u, err, i1, i2);
                Phases.stop("gptvq.lazy", t);
            }
        }
        PackedMatrix q = layer(rows, cols, d, gRows, gCols, k, format, codebooks, cbScales, indices, scales, scaleCodes,
                p.shared() != null ? p.shared().tensor() : null);
        if (s.codebookUpdate() && p.shared() == null) { // an update would give the layer its own codebook
            t = Phases.start();
            q = CodebookUpdate.improve(p, q, scaleOf);
            Phases.stop("gptvq.update", t);
        }
        return q;
    }

    static PackedMatrix layer(int rows, int cols, int d, int gRows, int gCols, int k, CodebookFormat format,
                                float[] codebooks, float[] cbScales, int[] indices, ScaleGrid grid, int[] scaleCodes,
                                String sharedTensor) {
        BlockScaleValues bs = grid == null ? null
                : new BlockScaleValues(grid.blockCols(), grid.bits(), grid.offset(), grid.step(), scaleCodes);
        var stage = new StageValues(k, format, codebooks, cbScales, indices, sharedTensor);
        return PackedMatrix.builder(rows, cols).method("gptvq")
                .vector("", 0, cols, Axis.IN, d, gRows, gCols, List.of(stage), bs).build();
    }

    private static float maxAbs(float[] w, int from, int to) {
        float m = 0f;
        for (int i = from; i < to; i++) {
            m = Math.max(m, Math.abs(w[i]));
        }
        return m;
    }

    /** The layer's log-domain scale grid: offset and step spanning the blocks' max |w| (4-bit codes). */
    static ScaleGrid scaleGrid(float[] w, int rows, int cols, int nb) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b * nb < cols; b++) {
                float m = maxAbs(w, r * cols + b * nb, r * cols + Math.min(cols, (b + 1) * nb));
                if (m > 0) {
                    lo = Math.min(lo, Math.log(m) / Math.log(2));
                    hi = Math.max(hi, Math.log(m) / Math.log(2));
                }
            }
        }
        if (lo == Double.POSITIVE_INFINITY) {
            lo = 0;
            hi = 0;
        }
        // a little headroom above the largest block: error feedback can grow weights
        hi += 0.5;
        float offset = (float) lo;
        float step = (float) Math.max((hi - lo) / ((1 << SCALE_BITS) - 1), 1e-3);
        return new ScaleGrid(nb, SCALE_BITS, offset, step);
    }

    /** BlockScales' parameters before the codes exist. */
    record ScaleGrid(int blockCols, int bits, float offset, float step) implements BlockScalesLike {
    }

    interface BlockScalesLike {
        int blockCols();

        int bits();

        float offset();

        float step();

        /** The smallest code whose scale is at least m (so |w / s| ≤ 1), clamped to the code range. */
        default int codeFor(float m) {
            int max = (1 << bits()) - 1;
            if (m <= 0) {
                return 0;
            }
            int code = (int) Math.ceil((Math.log(m) / Math.log(2) - offset()) / step());
            code = Math.max(0, Math.min(max, code));
            while (code < max && scale(code) < m) {
                code++;
            }
            return code;
        }

        default float scale(int code) {
            return (float) Math.pow(2.0, offset() + (double) code * step());
        }
    }

    /** EM for codebook g on rows [r0, r1) × columns [c0, c1), in the normalised space. */
    private static void initCodebook(LayerProblem p, float[] w, float[] scaleOf, double[] dw, int r0, int r1, int c0,
                                     int c1, int g, float[] codebooks, float[] cbScales, CodebookFormat format) {
        GptvqOptions s = METHOD.options(p.spec());
        int cols = p.cols();
        int d = s.dim();
        int k = s.centroids();
        int per = (c1 - c0) / d;
        int n = (r1 - r0) * per;
        float[] x = new float[n * d];
        float[] wt = new float[n * d];
        for (int r = r0; r < r1; r++) {
            for (int v = 0; v < per; v++) {
                for (int j = 0; j < d; j++) {
                    int c = c0 + v * d + j;
                    float sc = scaleOf[r * cols + c];
                    int at = ((r - r0) * per + v) * d + j;
                    x[at] = w[r * cols + c] / sc;
                    wt[at] = (float) (dw[c] * sc * sc);
                }
            }
        }
        float[] init = s.init().equals("mahalanobis") ? KMeans.seedMahalanobis(x, n, d, k)
                : KMeans.seedPlusPlus(x, wt, n, d, k, new SplittableRandom(p.seed() + g));
        float[] book = KMeans.fitFrom(p.backend(), x, wt, n, d, k, s.iters(), s.tol(), init).codebook();
        float[] sc = Codebooks.round(book, 1, k, d, format);
        if (sc != null) {
            cbScales[g] = sc[0];
        }
        System.arraycopy(book, 0, codebooks, g * k * d, k * d);
    }

    /**
     * Columns [j, j+d) of every row: nearest centroid under the weighted distance, then the
     * error E_P = (W_P − Q_P) U_PP⁻¹ fed to columns [j+d, i2) of the lazy block and recorded.
     */
    private static void quantizeColumns(LayerProblem p, float[] w, float[] scaleOf, double[] dw, double[] u, int j,
                                        int i2, int i1, int width, float[] err, float[] codebooks, int[] indices,
                                        int cb, int colBlocks, int gRows, int perRow) {
        int rows = p.rows();
        int cols = p.cols();
        GptvqOptions s = METHOD.options(p.spec());
        int d = s.dim();
        int k = s.centroids();
        float[] x = new float[rows * d];
        float[] wt = new float[rows * d];
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < d; t++) {
                float sc = scaleOf[r * cols + j + t];
                x[r * d + t] = w[r * cols + j + t] / sc;
                wt[r * d + t] = (float) (dw[j + t] * sc * sc);
            }
        }
        int[] idx = new int[rows];
        float[] dist = new float[rows];
        int rowBlocks = rows / gRows;
        for (int rb = 0; rb < rowBlocks; rb++) { // each row block has its own codebook
            int g = rb * colBlocks + cb;
            float[] book = Arrays.copyOfRange(codebooks, g * k * d, (g + 1) * k * d);
            float[] xs = Arrays.copyOfRange(x, rb * gRows * d, (rb + 1) * gRows * d);
            float[] ws = Arrays.copyOfRange(wt, rb * gRows * d, (rb + 1) * gRows * d);
            int[] is = new int[gRows];
            float[] ds = new float[gRows];
            p.backend().assignNearest(xs, ws, gRows, d, book, k, is, ds);
            System.arraycopy(is, 0, idx, rb * gRows, gRows);
        }
        // rows are independent given U: fixed row chunks in parallel, each row as the scalar loop did it
        Parallel.forChunks(0, rows, 16, (lo, hi) -> {
            double[] delta = new double[d];
            double[] e = new double[d];
            for (int r = lo; r < hi; r++) {
                int g = (r / gRows) * colBlocks + cb;
                indices[r * perRow + j / d] = idx[r];
                for (int t = 0; t < d; t++) {
                    int at = r * cols + j + t;
                    float q = codebooks[(g * k + idx[r]) * d + t] * scaleOf[at];
                    delta[t] = w[at] - q;
                    w[at] = q;
                }
                // e U_PP = delta, U_PP upper triangular: forward substitution
                for (int t = 0; t < d; t++) {
                    double v = delta[t];
                    for (int a = 0; a < t; a++) {
                        v -= e[a] * u[(j + a) * cols + j + t];
                    }
                    e[t] = v / u[(j + t) * cols + j + t];
                    err[r * width + (j - i1) + t] = (float) e[t];
                }
                ErrorFeedback.subtractCombination(w, r * cols + j + d, e, d, u, j * cols + j + d, cols, i2 - j - d);
            }
        });
    }
}
