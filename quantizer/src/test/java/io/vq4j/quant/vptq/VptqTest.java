package io.vq4j.quant.vptq;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.Stage;
import io.vq4j.pack.Codebooks;
import io.vq4j.quant.Methods;
import io.vq4j.quant.Specs;
import io.vq4j.quant.core.ErrorFeedback;
import io.vq4j.quant.core.KMeans;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.method.QuantSpec;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class VptqTest {
    static final int ROWS = 64;
    static final int COLS = 128;
    private static final CpuBackend CPU = new CpuBackend();
    /** W: per-column spread and offset vary, so norm has something to do. */
    static final float[] W = weights(ROWS, COLS, 11);
    /** H = 2/n XᵀX + 0.01·mean(diag)·I, X with neighbouring-channel correlation and varied channel scales. */
    static final double[] H = hessian(COLS, 512, 12);
    /** d = 4, k = 64: 1.5 bits per weight. */
    static final QuantSpec BASE = Specs.of("vptq", "--dim", 4, "--centroids", 64, "--iters", 20, "--tol", 1e-4,
            "--block-size", 32);

    static QuantSpec flags(QuantSpec s, boolean perm, boolean norm, boolean int8) {
        return Specs.with(s, "--perm", perm, "--norm", norm, "--int8-codebooks", int8);
    }

    static QuantSpec withVq(QuantSpec s, int d, int k) {
        return Specs.with(s, "--dim", d, "--centroids", k);
    }

    static QuantSpec withOutliers(QuantSpec s, double percent, int k) {
        return Specs.with(s, "--outlier-percent", percent, "--outlier-centroids", k);
    }

    static QuantSpec withResidual(QuantSpec s, List<Integer> k) {
        return Specs.with(s, "--residual-centroids", k);
    }

    static Vptq.Outcome run(QuantSpec spec, long seed) {
        return Vptq.run(new LayerProblem("test.layer", W, ROWS, COLS, H, spec, CPU, seed));
    }

    @Test
    void registeredAsVptq() {
        LayerQuantizer q = Methods.forName("vptq");
        assertSame(Vptq.METHOD, q);
        assertEquals("vptq", q.name());
        assertTrue(q.needsHessian());
    }

    @Test
    void beatsPlainKMeansVqAlongTheOutputAxis() {
        double kmeans = error(W, plainKMeans(4, 64, 5, false), H, ROWS, COLS);
        double weighted = error(W, plainKMeans(4, 64, 5, true), H, ROWS, COLS);
        double vptq = error(W, run(BASE, 5).matrix(), H, ROWS, COLS);
        System.out.printf("hessian-weighted error, d=4 k=64: plain k-means %.5g, diag-H-weighted k-means %.5g,"
                + " vptq %.5g (%.1f%% of plain)%n", kmeans, weighted, vptq, 100 * vptq / kmeans);
        assertTrue(vptq < 0.8 * kmeans, vptq + " vs " + kmeans);
        assertTrue(vptq < weighted, vptq + " vs " + weighted); // the feedback, not only the weighting
    }

    @Test
    void lazyBlockWidthChangesOnlyTheSummationOrder() {
        // B = 1: every update is a gemm; B = 128: all inside one block; B = 7: both, blocks not aligned
        // to anything. Same arithmetic up to float reordering, so the same error to ~1e-4.
        double reference = error(W, run(Specs.with(BASE, "--block-size", 128), 5).matrix(), H, ROWS, COLS);
        for (int b : new int[] {1, 7, 32}) {
            double e = error(W, run(Specs.with(BASE, "--block-size", b), 5).matrix(), H, ROWS, COLS);
            assertEquals(reference, e, 1e-4 * reference, "block " + b);
        }
    }

    @Test
    void residualStagesLowerTheErrorFurther() {
        double one = error(W, run(BASE, 5).matrix(), H, ROWS, COLS);
        double two = error(W, run(withResidual(BASE, List.of(16)), 5).matrix(), H, ROWS, COLS);
        double three = error(W, run(withResidual(BASE, List.of(16, 16)), 5).matrix(), H, ROWS, COLS);
        System.out.printf("vptq d=4 k=64: %.5g; + residual 16: %.5g; + residual 16-16: %.5g%n", one, two, three);
        assertTrue(two < 0.8 * one, two + " vs " + one);
        assertTrue(three < two, three + " vs " + two);
    }

    @Test
    void everyOptionRoundTripsExactlyThroughDequantize() {
        QuantSpec[] specs = {
            BASE,
            flags(BASE, true, false, false),
            flags(BASE, false, true, false),
            withOutliers(BASE, 2, 32),
            withResidual(BASE, List.of(16)),
            flags(BASE, false, false, true),
            flags(withResidual(withOutliers(BASE, 5, 0), List.of(8, 4)), true, true, true),
        };
        String[] names = {"plain", "perm", "norm", "outliers 2% k32", "residual 16", "int8", "all"};
        for (int i = 0; i < specs.length; i++) {
            Vptq.Outcome o = run(specs[i], 7);
            assertArrayEquals(o.matrix(), o.layer().dequantize(), names[i]);
            System.out.printf("vptq %-16s error %.5g, nominal %.3f bits/weight%n", names[i],
                    error(W, o.matrix(), H, ROWS, COLS),
                    VptqConfig.nominalBitsPerWeight(Vptq.METHOD.options(specs[i])));
        }
    }

    @Test
    void layoutOfAPlainLayer() {
        PackedMatrix q = run(withResidual(BASE, List.of(16)), 3).layer();
        assertEquals("vptq", q.method());
        assertNull(q.perm());
        assertNull(q.normScale());
        assertEquals(1, q.segments().size());
        Segment s = q.segments().getFirst();
        assertEquals("", s.role());
        Segment.Vector v = assertInstanceOf(Segment.Vector.class, s);
        assertEquals(Axis.OUT, v.axis());
        assertEquals(4, v.dim());
        assertEquals(ROWS, v.groupRows());
        assertEquals(COLS, v.groupCols());
        assertEquals(2, q.stages(v).size());
        Stage first = q.stages(v).get(0);
        assertEquals(64, first.k());
        assertEquals(CodebookFormat.F16, first.format());
        assertEquals(64 * 4, q.codebooks(v, first).length);
        assertEquals(ROWS / 4 * COLS, q.indices(v, first).length);
        for (float c : q.codebooks(v, first)) {
            assertEquals(Codebooks.f16(c), c);
        }
        assertEquals(16, q.stages(v).get(1).k());
    }

    @Test
    void permOrdersColumnsByDecreasingHessianDiagonal() {
        int[] perm = run(flags(BASE, true, false, false), 3).layer().perm();
        boolean[] seen = new boolean[COLS];
        for (int c = 0; c < COLS; c++) {
            seen[perm[c]] = true;
            if (c > 0) {
                assertTrue(H[perm[c - 1] * COLS + perm[c - 1]] >= H[perm[c] * COLS + perm[c]]);
            }
        }
        for (boolean b : seen) {
            assertTrue(b);
        }
        // ties keep column order: diag (1, 3, 1, 3) → 1, 3, 0, 2
        double[] h = new double[16];
        double[] diag = {1, 3, 1, 3};
        for (int i = 0; i < 4; i++) {
            h[i * 5] = diag[i];
        }
        assertArrayEquals(new int[] {1, 3, 0, 2}, ErrorFeedback.orderByDiagonal(h, 4));
    }

    @Test
    void normStoresFp16MeanAndStandardDeviationPerColumn() {
        PackedMatrix q = run(flags(BASE, false, true, false), 3).layer();
        float[] normBias = q.normBias();
        float[] normScale = q.normScale();
        for (int c = 0; c < COLS; c++) {
            double mean = 0;
            for (int r = 0; r < ROWS; r++) {
                mean += W[r * COLS + c];
            }
            mean /= ROWS;
            double ss = 0;
            for (int r = 0; r < ROWS; r++) {
                ss += (W[r * COLS + c] - mean) * (W[r * COLS + c] - mean);
            }
            assertEquals(Codebooks.f16((float) mean), normBias[c]);
            assertEquals(Codebooks.f16((float) Math.sqrt(ss / (ROWS - 1))), normScale[c]);
        }
    }

    @Test
    void outliersAreTheTopColumnsByHessianWithTheirOwnCodebook() {
        // 2 % of 128 columns → ⌈2.56⌉ = 3 outlier columns; outliers imply the diag-H order without --perm
        PackedMatrix q = run(withOutliers(BASE, 2, 32), 3).layer();
        assertArrayEquals(ErrorFeedback.orderByDiagonal(H, COLS), q.perm());
        assertEquals(2, q.segments().size());
        Segment out = q.segments().get(0);
        assertEquals("outlier_", out.role());
        assertEquals(0, out.from());
        assertEquals(3, out.to());
        Segment.Vector ov = (Segment.Vector) out;
        assertEquals(32, q.stages(ov).getFirst().k());
        assertEquals(3, ov.groupCols());
        assertEquals(3 * ROWS / 4, q.indices(ov, q.stages(ov).getFirst()).length);
        Segment main = q.segments().get(1);
        assertEquals("", main.role());
        assertEquals(3, main.from());
        assertEquals(64, q.stages((Segment.Vector) main).getFirst().k());
        // k = 0 means the main codebook's size (4 % → ⌈5.12⌉ = 6 columns, 96 vectors)
        PackedMatrix same = run(withOutliers(BASE, 4, 0), 3).layer();
        assertEquals(6, same.segments().get(0).to());
        assertEquals(64, same.stages((Segment.Vector) same.segments().get(0)).getFirst().k());
    }

    @Test
    void int8CodebooksCarryScales() {
        PackedMatrix q = run(flags(BASE, false, false, true), 3).layer();
        Segment.Vector v = (Segment.Vector) q.segments().getFirst();
        Stage st = q.stages(v).getFirst();
        assertEquals(CodebookFormat.INT8, st.format());
        float scale = q.codebookScales(v, st)[0];
        for (float c : q.codebooks(v, st)) {
            assertEquals(c, Codebooks.int8Code(c, scale) * scale);
        }
    }

    @Test
    void sameSeedSameBitsOtherSeedOtherCodebook() {
        QuantSpec spec = flags(withResidual(withOutliers(BASE, 3, 16), List.of(8)), true, true, false);
        Vptq.Outcome a = run(spec, 21);
        Vptq.Outcome b = run(spec, 21);
        assertArrayEquals(a.matrix(), b.matrix());
        for (int s = 0; s < a.layer().segments().size(); s++) {
            Segment.Vector va = (Segment.Vector) a.layer().segments().get(s);
            Segment.Vector vb = (Segment.Vector) b.layer().segments().get(s);
            List<Stage> sa = a.layer().stages(va);
            List<Stage> sb = b.layer().stages(vb);
            for (int t = 0; t < sa.size(); t++) {
                assertArrayEquals(a.layer().codebooks(va, sa.get(t)), b.layer().codebooks(vb, sb.get(t)));
                assertArrayEquals(a.layer().indices(va, sa.get(t)), b.layer().indices(vb, sb.get(t)));
            }
        }
        Vptq.Outcome c = run(spec, 22);
        assertFalse(java.util.Arrays.equals(a.matrix(), c.matrix()));
    }

    @Test
    void missingHessianIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Vptq.METHOD.quantize(new LayerProblem("l", W, ROWS, COLS, null, BASE, CPU, 1)));
        assertEquals("vptq needs the Hessian of l (calibration data)", e.getMessage());
    }

    @Test
    void validateRefusesEachBadOptionWithOneLine() {
        LayerQuantizer v = Vptq.METHOD;
        refuses("--dim must be 1..16 for vptq, got 0", () -> v.validate(withVq(BASE, 0, 64), 64, 128));
        refuses("--dim must be 1..16 for vptq, got 17", () -> v.validate(withVq(BASE, 17, 64), 68, 128));
        refuses("--dim 3 does not divide the 64 rows (vptq vectors run along the output dimension)",
                () -> v.validate(withVq(BASE, 3, 64), 64, 128));
        refuses("--centroids must be 2..65536 for vptq, got 1", () -> v.validate(withVq(BASE, 4, 1), 64, 128));
        refuses("--centroids must be 2..65536 for vptq, got 65537",
                () -> v.validate(withVq(BASE, 4, 65537), 4096, 4096));
        refuses("--residual-centroids must be 2..65536 for vptq, got 1",
                () -> v.validate(withResidual(BASE, List.of(16, 1)), 64, 128));
        refuses("--outlier-percent must be in [0, 50), got 50.0", () -> v.validate(withOutliers(BASE, 50, 0), 64, 128));
        refuses("--outlier-percent must be in [0, 50), got -1.0", () -> v.validate(withOutliers(BASE, -1, 0), 64, 128));
        refuses("--outlier-percent must be in [0, 50), got NaN",
                () -> v.validate(withOutliers(BASE, Double.NaN, 0), 64, 128));
        refuses("--outlier-centroids must be 2..65536 for vptq, got 1",
                () -> v.validate(withOutliers(BASE, 1, 1), 64, 128));
        refuses("--outlier-percent 10.0 takes all 1 columns, leaving none for the main codebook",
                () -> v.validate(withOutliers(withVq(BASE, 1, 2), 10, 0), 64, 1));
        refuses("--block-size must be >= 1, got 0", () -> v.validate(Specs.with(BASE, "--block-size", 0), 64, 128));
        refuses("--iters must be at least 1 (k-means iterations), got -1",
                () -> v.validate(Specs.with(BASE, "--iters", -1), 64, 128));
        refuses("--iters must be at least 1 (k-means iterations), got 0",
                () -> v.validate(Specs.with(BASE, "--iters", 0), 64, 128));
        refuses("--tol must be a finite number >= 0, got NaN",
                () -> v.validate(Specs.with(BASE, "--iters", 5, "--tol", Double.NaN), 64, 128));
        // the options of other methods are not in vptq's table: refused when the spec is made
        refusesOption("--init: not an option of --method vptq", "--init", "mahalanobis");
        refusesOption("--act-order: not an option of --method vptq", "--act-order", true);
        refusesOption("--block-norm: not an option of --method vptq", "--block-norm", 64);
        // 16 × 128 = 2048 vectors; 1 % of 128 → 2 outlier columns, 126 · 16 = 2016 left; 2 % → 3 columns, 48 vectors
        refuses("a codebook of 4096 centroids is larger than the 2048 vectors of the columns (vptq)",
                () -> v.validate(withVq(BASE, 4, 4096), 64, 128));
        refuses("a codebook of 4096 centroids is larger than the 2016 vectors of the columns (vptq)",
                () -> v.validate(withOutliers(withResidual(BASE, List.of(4096)), 1, 0), 64, 128));
        refuses("a codebook of 64 centroids is larger than the 48 vectors of the outlier columns (vptq)",
                () -> v.validate(withOutliers(BASE, 2, 0), 64, 128));
        v.validate(withOutliers(BASE, 2, 32), 64, 128); // fits
        // quantize checks too, naming the layer
        refuses("test.layer: --dim 3 does not divide the 64 rows (vptq vectors run along the output dimension)",
                () -> run(withVq(BASE, 3, 64), 1));
    }

    private static void refusesOption(String message, String option, Object value) {
        InputException e = assertThrows(InputException.class, () -> Specs.with(BASE, option, value));
        assertEquals(message, e.getMessage());
    }

    private static void refuses(String message, org.junit.jupiter.api.function.Executable action) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, action);
        assertEquals(message, e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    // ---- fixtures ----

    /** tr((W − Q) H (W − Q)ᵀ), in double; w and q rows × cols row-major. */
    static double error(float[] w, float[] q, double[] h, int rows, int cols) {
        double total = 0;
        double[] e = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                e[c] = (double) w[r * cols + c] - q[r * cols + c];
            }
            for (int i = 0; i < cols; i++) {
                double s = 0;
                for (int j = 0; j < cols; j++) {
                    s += h[i * cols + j] * e[j];
                }
                total += e[i] * s;
            }
        }
        return total;
    }

    /**
     * VQ along the output axis without feedback: k-means on all d-row sub-vectors (plain, or
     * weighted by diag H per column), fp16 codebook, each vector to its nearest centroid.
     */
    static float[] plainKMeans(int d, int k, long seed, boolean weighted) {
        float[] vectors = VptqPassTest.transpose(W, ROWS, COLS); // column-major: vectors of d rows
        int n = ROWS * COLS / d;
        float[] weights = null;
        if (weighted) {
            weights = new float[vectors.length];
            for (int i = 0; i < weights.length; i++) {
                weights[i] = (float) H[(i / ROWS) * COLS + i / ROWS];
            }
        }
        KMeans.Result km = KMeans.fit(CPU, vectors, weights, n, d, k, 20, 1e-4, seed);
        float[] cb = km.codebook().clone();
        Codebooks.round(cb, 1, k, d, CodebookFormat.F16);
        int[] index = new int[n];
        CPU.assignNearest(vectors, null, n, d, cb, k, index, new float[n]);
        float[] qt = new float[vectors.length];
        for (int i = 0; i < n; i++) {
            System.arraycopy(cb, index[i] * d, qt, i * d, d);
        }
        return VptqPassTest.transpose(qt, COLS, ROWS);
    }

    static float[] weights(int rows, int cols, long seed) {
        SplittableRandom g = new SplittableRandom(seed);
        float[] spread = new float[cols];
        float[] offset = new float[cols];
        for (int c = 0; c < cols; c++) {
            spread[c] = (float) (0.02 * Math.exp(0.5 * g.nextGaussian()));
            offset[c] = (float) (0.01 * g.nextGaussian());
        }
        float[] w = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                w[r * cols + c] = offset[c] + spread[c] * (float) g.nextGaussian();
            }
        }
        return w;
    }

    static double[] hessian(int cols, int n, long seed) {
        SplittableRandom g = new SplittableRandom(seed);
        double[] scale = new double[cols];
        for (int c = 0; c < cols; c++) {
            scale[c] = Math.exp(0.8 * g.nextGaussian());
        }
        double[] x = new double[n * cols];
        for (int i = 0; i < n; i++) {
            double common = g.nextGaussian();
            double previous = g.nextGaussian();
            for (int c = 0; c < cols; c++) {
                double z = g.nextGaussian();
                x[i * cols + c] = scale[c] * (z + 0.9 * previous + 0.5 * common);
                previous = z;
            }
        }
        double[] h = new double[cols * cols];
        for (int i = 0; i < cols; i++) {
            for (int j = 0; j < cols; j++) {
                double s = 0;
                for (int t = 0; t < n; t++) {
                    s += x[t * cols + i] * x[t * cols + j];
                }
                h[i * cols + j] = 2.0 / n * s;
            }
        }
        double mean = 0;
        for (int i = 0; i < cols; i++) {
            mean += h[i * cols + i];
        }
        mean /= cols;
        for (int i = 0; i < cols; i++) {
            h[i * cols + i] += 0.01 * mean;
        }
        return h;
    }
}
