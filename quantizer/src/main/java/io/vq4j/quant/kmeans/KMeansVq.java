package io.vq4j.quant.kmeans;

import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.pack.Codebooks;
import io.vq4j.quant.core.Checks;
import io.vq4j.quant.core.KMeans;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.QuantSpec;

import java.util.List;

/**
 * Method "kmeans": naive vector quantization — no calibration data, no error feedback. The
 * weight matrix is cut into sub-vectors of d consecutive columns; each codebook group
 * (groupRows × groupSize weights; 0 = all rows / all columns, so both 0 is one codebook per
 * tensor) gets a k-means codebook of k centroids (k-means++ or Mahalanobis seeding), rounded to its storage format, and every
 * vector takes its nearest stored centroid. This is the baseline the Hessian-aware methods
 * must beat.
 */
public final class KMeansVq implements Method.Algorithm<KMeansOptions> {
    public static final Method<KMeansOptions> METHOD = Method.vector("kmeans", Axis.IN, KMeansOptions.class, false,
            KMeansOptions.TABLE, new KMeansVq());

    private KMeansVq() {
    }

    private static String name() {
        return METHOD.name();
    }

    @Override
    public void validate(KMeansOptions s, QuantSpec spec, int rows, int cols) {
        Checks.checkVector(spec, s.dim(), s.centroids(), s.groupRows(), s.groupSize(),
                Checks.ownCodebookSpace(s.groupRows(), s.groupSize(), List.of(), 0, false, 0, s.int8Codebooks()),
                rows, cols, Axis.IN);
        Checks.checkKMeans(s.iters(), s.tol());
        if (!s.init().equals("kmeans++") && !s.init().equals("mahalanobis")) {
            throw new IllegalArgumentException("--init must be kmeans++ or mahalanobis, got '" + s.init() + "'");
        }
    }

    @Override
    public PackedMatrix quantize(LayerProblem p, KMeansOptions s) {
        int rows = p.rows();
        int cols = p.cols();
        int d = s.dim();
        int k = s.centroids();
        int gRows = s.groupRows() <= 0 ? rows : s.groupRows();
        int gCols = s.groupSize() <= 0 ? cols : s.groupSize();
        int rowBlocks = (rows + gRows - 1) / gRows;
        int colBlocks = (cols + gCols - 1) / gCols;
        int groups = rowBlocks * colBlocks;
        int perRow = cols / d;
        int[] indices = new int[rows * perRow];
        float[] codebooks = new float[groups * k * d];
        CodebookFormat format = s.int8Codebooks() ? CodebookFormat.INT8 : CodebookFormat.F16;
        float[] cbScales = format == CodebookFormat.INT8 ? new float[groups] : null;
        for (int rb = 0; rb < rowBlocks; rb++) {
            for (int cb = 0; cb < colBlocks; cb++) {
                int g = rb * colBlocks + cb;
                int r0 = rb * gRows;
                int r1 = Math.min(rows, r0 + gRows);
                int c0 = cb * gCols;
                int c1 = Math.min(cols, c0 + gCols);
                int vecPerRow = (c1 - c0) / d;
                int n = (r1 - r0) * vecPerRow;
                float[] x = new float[n * d];
                for (int r = r0; r < r1; r++) {
                    System.arraycopy(p.weight(), r * cols + c0, x, (r - r0) * vecPerRow * d, vecPerRow * d);
                }
                float[] book;
                if (p.shared() != null) {
                    book = p.shared().book().clone(); // fitted once on every sharing layer's vectors
                } else {
                    KMeans.Result fit = s.init().equals("mahalanobis")
                            ? KMeans.fitFrom(p.backend(), x, null, n, d, k, s.iters(), s.tol(),
                            KMeans.seedMahalanobis(x, n, d, k))
                            : KMeans.fit(p.backend(), x, null, n, d, k, s.iters(), s.tol(), p.seed() + g);
                    book = fit.codebook();
                }
                float[] scale = Codebooks.round(book, 1, k, d, format);
                if (scale != null) {
                    cbScales[g] = scale[0];
                }
                int[] idx = new int[n];
                p.backend().assignNearest(x, null, n, d, book, k, idx, new float[n]);
                System.arraycopy(book, 0, codebooks, g * k * d, k * d);
                for (int r = r0; r < r1; r++) {
                    System.arraycopy(idx, (r - r0) * vecPerRow, indices, r * perRow + c0 / d, vecPerRow);
                }
            }
        }
        var stage = new StageValues(k, format, codebooks, cbScales, indices,
                p.shared() != null ? p.shared().tensor() : null);
        return PackedMatrix.builder(rows, cols).method(name())
                .vector("", 0, cols, Axis.IN, d, gRows, gCols, List.of(stage), null).build();
    }
}
