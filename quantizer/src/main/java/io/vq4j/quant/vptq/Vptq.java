package io.vq4j.quant.vptq;

import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedMatrixBuilder;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.kernels.Backend;
import io.vq4j.pack.Codebooks;
import io.vq4j.quant.core.Checks;
import io.vq4j.quant.core.ErrorFeedback;
import io.vq4j.quant.core.KMeans;
import io.vq4j.quant.core.Linalg;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.QuantSpec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Method "vptq" (VPTQ, Microsoft): vector quantization along the output dimension with GPTQ
 * error feedback one column at a time. A sub-vector is d = spec.dim() consecutive rows of one
 * column ({@link Axis#OUT}).
 *
 * <p>Steps, in order (each optional step says which option turns it on):
 * <ol>
 *   <li><b>perm</b> (--perm): columns ordered by decreasing diag H (ties keep their order);
 *       W and H are permuted, the order is stored as {@link PackedMatrix#perm()}.</li>
 *   <li><b>outliers</b> (--outlier-percent p &gt; 0): the first ⌈p·cols/100⌉ columns of that
 *       order — the highest diag H — form segment "outlier_" with their own codebooks (k =
 *       --outlier-centroids, 0 = --centroids); the rest form segment "". Outliers are defined by
 *       the diag H order, so p &gt; 0 <em>implies</em> the permutation even without --perm.</li>
 *   <li><b>norm</b> (--norm): per input channel (per column) bias = mean and scale = standard
 *       deviation (n − 1) over the rows, rounded to fp16 before use; W'' = (W' − bias) / scale
 *       is quantized, the dequantizer applies W'' · scale + bias. These are the statistics of
 *       VPTQ's enable_norm as released with the paper (microsoft/VPTQ vptq/quantizer.py,
 *       init_norm: torch.std and torch.mean over dim 0, to f2943b6 of 2025-01-20); the head of
 *       its algorithm branch (b7304b8, 2025-01-21) takes bias = min and scale = max − min over
 *       the rows instead (W'' in [0, 1]); docs/RESULTS.md §4 measures both. VPTQ normalises with
 *       the unrounded fp32 values and stores them in the model's dtype. The Hessian is rescaled
 *       to keep the objective in the original space (derivation at normalise(): H''_ij = s_i s_j
 *       H_ij). VPTQ's own code keeps H unscaled; on the test matrix of VptqTest the rescaled H
 *       gives a 22 % lower error.</li>
 *   <li><b>codebooks</b>: per segment and stage one codebook (groupRows = rows, groupCols =
 *       segment width), fitted by k-means++ / Lloyd with per-dimension weights H''_cc for every
 *       entry of a sub-vector of column c (VPTQ's kmeans_mode "hessian"), rounded to fp16 or int8
 *       before any assignment.</li>
 *   <li><b>GPTQ pass</b> ({@link VptqPass}): columns left to right, each column's sub-vectors
 *       to their nearest centroid, error (w − q) / U_cc fed to the later columns through the upper
 *       Cholesky factor U of H''⁻¹, lazily in blocks of --block-size columns (one gemm each).</li>
 *   <li><b>residual stages</b> (--residual-centroids k₂ k₃ …), as VPTQ's fast_vector_quant does it
 *       for one stage and generalised to any number: after the pass with stages 1..s, the residual
 *       of every column (the weights as fed back when the column was quantized, minus their
 *       quantized value) trains stage s+1's codebook with the same weighted k-means; then the
 *       GPTQ pass is run again from the original W'' with stages 1..s+1, every column quantized
 *       greedily stage after stage. The last pass's indices are stored. A layer with S stages
 *       costs S passes. The outlier segment has the same residual stages (same sizes), each
 *       with its own codebook.</li>
 * </ol>
 * Its options are {@link VptqOptions}; the options of other methods are refused by its table.
 */
public final class Vptq implements Method.Algorithm<VptqOptions> {
    public static final Method<VptqOptions> METHOD = Method.vector("vptq", Axis.OUT, VptqOptions.class, true,
            VptqOptions.TABLE, new Vptq());

    private Vptq() {
    }

    @Override
    public void validate(VptqOptions s, QuantSpec spec, int rows, int cols) {
        int d = s.dim();
        if (d < 1 || d > 16) {
            throw new IllegalArgumentException("--dim must be 1..16 for vptq, got " + d);
        }
        if (rows % d != 0) {
            throw new IllegalArgumentException("--dim " + d + " does not divide the " + rows
                    + " rows (vptq vectors run along the output dimension)");
        }
        checkK("--centroids", s.centroids());
        for (int k : s.residualCentroids()) {
            checkK("--residual-centroids", k);
        }
        if (!(s.outlierPercent() >= 0 && s.outlierPercent() < 50)) {
            throw new IllegalArgumentException("--outlier-percent must be in [0, 50), got " + s.outlierPercent());
        }
        if (s.outlierCentroids() != 0) {
            checkK("--outlier-centroids", s.outlierCentroids());
        }
        if (s.blockSize() < 1) {
            throw new IllegalArgumentException("--block-size must be >= 1, got " + s.blockSize());
        }
        Checks.checkKMeans(s.iters(), s.tol());
        int outliers = outlierColumns(s.outlierPercent(), cols);
        if (outliers >= cols) {
            throw new IllegalArgumentException("--outlier-percent " + s.outlierPercent() + " takes all " + cols
                    + " columns, leaving none for the main codebook");
        }
        Checks.checkSharing(spec, Checks.ownCodebookSpace(0, 0, s.residualCentroids(), s.outlierPercent(), s.norm(), 0,
                s.int8Codebooks()));
        int perColumn = rows / d;
        if (!spec.sharesCodebooks()) {
            checkFits("", s.centroids(), s.residualCentroids(), (long) (cols - outliers) * perColumn);
        }
        if (outliers > 0) {
            checkFits("outlier ", outlierK(s), s.residualCentroids(), (long) outliers * perColumn);
        }
    }

    private static void checkK(String option, int k) {
        if (k < 2 || k > 65536) {
            throw new IllegalArgumentException(option + " must be 2..65536 for vptq, got " + k);
        }
    }

    private static void checkFits(String segment, int k, List<Integer> residual, long vectors) {
        int most = k;
        for (int r : residual) {
            most = Math.max(most, r);
        }
        if (most > vectors) {
            throw new IllegalArgumentException("a codebook of " + most + " centroids is larger than the " + vectors
                    + " vectors of the " + segment + "columns (vptq)");
        }
    }

    private static int outlierK(VptqOptions s) {
        return s.outlierCentroids() == 0 ? s.centroids() : s.outlierCentroids();
    }

    /**
     * ⌈p · cols / 100⌉ (VPTQ's npercent rule); the 1e-9 keeps 1.1 % of 1000 at 11 where the
     * product rounds to 11.000000000000002.
     */
    static int outlierColumns(double percent, int cols) {
        return percent <= 0 ? 0 : (int) Math.ceil(percent * cols / 100.0 - 1e-9);
    }

    @Override
    public PackedMatrix quantize(LayerProblem p, VptqOptions s) {
        return run(p).layer();
    }

    /** The stored layer and the matrix (rows × cols, original column order) the algorithm ended with. */
    record Outcome(PackedMatrix layer, float[] matrix) {
    }

    static Outcome run(LayerProblem p) {
        VptqOptions s = METHOD.options(p.spec());
        int rows = p.rows();
        int cols = p.cols();
        int d = s.dim();
        validate(p.spec(), rows, cols, p.name());
        if (p.hessian() == null) {
            throw new IllegalArgumentException("vptq needs the Hessian of " + p.name() + " (calibration data)");
        }
        int outliers = outlierColumns(s.outlierPercent(), cols);
        int[] order = s.perm() || outliers > 0 ? ErrorFeedback.orderByDiagonal(p.hessian(), cols) : null;

        float[] wt = new float[cols * rows]; // Wᵀ, permuted: row c of wt is column order[c] of W
        double[] h = new double[cols * cols];
        for (int c = 0; c < cols; c++) {
            int oc = order == null ? c : order[c];
            for (int r = 0; r < rows; r++) {
                wt[c * rows + r] = p.weight()[r * cols + oc];
            }
            for (int j = 0; j < cols; j++) {
                h[c * cols + j] = p.hessian()[oc * cols + (order == null ? j : order[j])];
            }
        }
        float[] scale = null;
        float[] bias = null;
        if (s.norm()) {
            scale = new float[cols];
            bias = new float[cols];
            normalise(wt, h, rows, cols, scale, bias);
        }
        double[] u = Linalg.inverseCholeskyUpperDamped(p.backend(), h, cols, p.name());
        float[] importance = new float[cols];
        for (int c = 0; c < cols; c++) {
            importance[c] = (float) h[c * cols + c];
        }

        List<Plan> plans = new ArrayList<>();
        List<Integer> residual = s.residualCentroids();
        if (outliers > 0) {
            plans.add(new Plan("outlier_", 0, outliers, stageSizes(outlierK(s), residual)));
        }
        plans.add(new Plan("", outliers, cols, stageSizes(s.centroids(), residual)));
        CodebookFormat format = s.int8Codebooks() ? CodebookFormat.INT8 : CodebookFormat.F16;
        int stages = 1 + residual.size();
        List<List<float[]>> codebooks = new ArrayList<>();
        List<List<float[]>> codebookScales = new ArrayList<>();
        for (int i = 0; i < plans.size(); i++) {
            codebooks.add(new ArrayList<>());
            codebookScales.add(new ArrayList<>());
        }
        VptqPass.Result pass = null;
        for (int stage = 0; stage < stages; stage++) {
            float[] source = stage == 0 ? wt : pass.residual();
            List<VptqPass.Segment> segments = new ArrayList<>();
            for (int i = 0; i < plans.size(); i++) {
                Plan plan = plans.get(i);
                int k = plan.k()[stage];
                float[] cb = p.shared() != null ? p.shared().book().clone()
                        : fitCodebook(p.backend(), source, importance, rows, d, plan.from(), plan.to(), k, s,
                        mix(p.seed(), i, stage));
                codebookScales.get(i).add(Codebooks.round(cb, 1, k, d, format));
                codebooks.get(i).add(cb);
                segments.add(new VptqPass.Segment(plan.from(), plan.to(), List.copyOf(codebooks.get(i)),
                        Arrays.copyOf(plan.k(), stage + 1)));
            }
            pass = VptqPass.run(p.backend(), wt, rows, cols, d, u, s.blockSize(), segments);
        }

        PackedMatrixBuilder out = PackedMatrix.builder(rows, cols).method("vptq");
        for (int i = 0; i < plans.size(); i++) {
            Plan plan = plans.get(i);
            List<StageValues> st = new ArrayList<>();
            for (int stage = 0; stage < stages; stage++) {
                st.add(new StageValues(plan.k()[stage], format, codebooks.get(i).get(stage),
                        codebookScales.get(i).get(stage), pass.indices()[i][stage],
                        p.shared() != null ? p.shared().tensor() : null));
            }
            out.vector(plan.role(), plan.from(), plan.to(), Axis.OUT, d, rows, plan.to() - plan.from(), st, null);
        }
        if (order != null) {
            out.permutation(order);
        }
        if (scale != null) {
            out.norm(scale, bias);
        }
        PackedMatrix layer = out.build();
        return new Outcome(layer, restore(pass.qt(), rows, cols, order, scale, bias));
    }

    private static void validate(QuantSpec spec, int rows, int cols, String layer) {
        try {
            METHOD.validate(spec, rows, cols);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(layer + ": " + e.getMessage(), e);
        }
    }

    /** A segment's column range and its codebook size per stage. */
    private record Plan(String role, int from, int to, int[] k) {
    }

    private static int[] stageSizes(int first, List<Integer> residual) {
        int[] k = new int[1 + residual.size()];
        k[0] = first;
        for (int i = 0; i < residual.size(); i++) {
            k[i + 1] = residual.get(i);
        }
        return k;
    }

    /**
     * Per-column normalisation in place: bias = fp16(mean), scale = fp16(std) over the rows (1 if
     * that rounds to 0 or overflows; bias 0 if the mean overflows fp16), then
     * W''[:, c] = (W'[:, c] − bias_c) / scale_c, all with the rounded values that are stored.
     *
     * <p>The Hessian in the normalised space. The dequantized weight is Q = Q''·S + 1·bᵀ with
     * S = diag(scale), and W = W''·S + 1·bᵀ up to the rounding of the division, so the error is
     * W − Q = (W'' − Q'')·S: the bias cancels and every column's error is scaled by its s_c. The
     * layer objective tr((W − Q) H (W − Q)ᵀ) is therefore tr((W'' − Q'') (S H S) (W'' − Q'')ᵀ):
     * quantizing W'' with H''_ij = s_i s_j H_ij (GPTQ feedback, k-means weights H''_cc = s_c² H_cc)
     * minimises the same error in the original space.
     */
    private static void normalise(float[] wt, double[] h, int rows, int cols, float[] scale, float[] bias) {
        for (int c = 0; c < cols; c++) {
            int at = c * rows;
            double mean = 0;
            for (int r = 0; r < rows; r++) {
                mean += wt[at + r];
            }
            mean /= rows;
            double ss = 0;
            for (int r = 0; r < rows; r++) {
                double e = wt[at + r] - mean;
                ss += e * e;
            }
            double std = rows > 1 ? Math.sqrt(ss / (rows - 1)) : 0;
            float b = Codebooks.f16((float) mean);
            float sc = Codebooks.f16((float) std);
            bias[c] = Float.isFinite(b) ? b : 0f;
            scale[c] = sc > 0f && Float.isFinite(sc) ? sc : 1f;
            for (int r = 0; r < rows; r++) {
                wt[at + r] = (wt[at + r] - bias[c]) / scale[c];
            }
        }
        for (int i = 0; i < cols; i++) {
            for (int j = 0; j < cols; j++) {
                h[i * cols + j] *= (double) scale[i] * scale[j];
            }
        }
    }

    /**
     * Hessian-weighted k-means on the vectors of columns [from, to) of a cols × rows transposed
     * matrix (their storage order is already the column-major vector order of Axis.OUT); every
     * entry of a vector in column c has weight importance[c] = H''_cc. The codebook comes back
     * rounded to the stored format by the caller.
     */
    private static float[] fitCodebook(Backend backend, float[] source, float[] importance, int rows, int d, int from,
                                       int to, int k, VptqOptions s, long seed) {
        float[] vectors = Arrays.copyOfRange(source, from * rows, to * rows);
        float[] weights = new float[vectors.length];
        for (int c = from; c < to; c++) {
            Arrays.fill(weights, (c - from) * rows, (c - from + 1) * rows, importance[c]);
        }
        int n = vectors.length / d;
        return KMeans.fit(backend, vectors, weights, n, d, k, s.iters(), s.tol(), seed).codebook().clone();
    }

    /** A k-means seed per (segment, stage) from the layer's seed (SplitMix64 finaliser). */
    private static long mix(long seed, int segment, int stage) {
        long z = seed + 0x9E3779B97F4A7C15L * (1 + segment * 64L + stage);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** The quantized matrix back in the original space, with the dequantizer's operations: norm, then perm. */
    private static float[] restore(float[] qt, int rows, int cols, int[] order, float[] scale, float[] bias) {
        float[] w = new float[rows * cols];
        for (int c = 0; c < cols; c++) {
            int oc = order == null ? c : order[c];
            for (int r = 0; r < rows; r++) {
                float v = qt[c * rows + r];
                w[r * cols + oc] = scale == null ? v : v * scale[c] + bias[c];
            }
        }
        return w;
    }
}
