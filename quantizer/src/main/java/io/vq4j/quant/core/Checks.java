package io.vq4j.quant.core;

import io.vq4j.kernels.packed.Axis;
import io.vq4j.quant.method.QuantSpec;

import java.util.List;

/**
 * The checks several methods share, with the messages the CLI shows: the scalar grid
 * (rtn, gptq), the vector shapes and codebook groups (kmeans, gptvq), and what a codebook
 * shared between layers rules out (every vector method).
 */
public final class Checks {
    private Checks() {
    }

    /** Bits and scale groups of a scalar method. */
    public static void checkScalar(String method, int bits, int groupSize) {
        if (bits < 2 || bits > 8) {
            throw new IllegalArgumentException("--bits must be 2..8 for " + method + ", got " + bits);
        }
        if (groupSize < 0) {
            throw new IllegalArgumentException("--group-size must be >= 0, got " + groupSize);
        }
    }

    /**
     * The k-means settings of every vector method: at least one iteration after the seeding (0
     * would keep the seeds as the codebook), a relative tolerance that is a finite number >= 0.
     */
    public static void checkKMeans(int iters, double tol) {
        if (iters < 1) {
            throw new IllegalArgumentException("--iters must be at least 1 (k-means iterations), got " + iters);
        }
        if (!(tol >= 0) || Double.isInfinite(tol)) {
            throw new IllegalArgumentException("--tol must be a finite number >= 0, got " + tol);
        }
    }

    /**
     * What gives a layer its own codebook space, so that it cannot use a codebook shared with
     * other layers: the first of these the options have, as the --share-codebooks error names
     * it, or null. A method passes 0 / empty / false for what it does not have.
     */
    public static String ownCodebookSpace(int groupRows, int groupSize, List<Integer> residualCentroids,
                                          double outlierPercent, boolean norm, int blockNorm, boolean int8Codebooks) {
        return groupRows > 0 || groupSize > 0 ? "codebook groups (--group-size/--group-rows must be 0)"
                : !residualCentroids.isEmpty() ? "residual stages (--residual-centroids)"
                : outlierPercent > 0 ? "outlier columns (--outlier-percent)"
                : norm ? "--norm (each layer's own codebook space)"
                : blockNorm > 0 ? "--block-norm (each layer's own codebook space)"
                : int8Codebooks ? "--int8-codebooks (shared codebooks are fp16)"
                : null;
    }

    /**
     * What --share-codebooks kind|all needs: one codebook per tensor (no groups), one stage,
     * fp16 codebooks, and nothing that gives a layer its own codebook space (outliers, norm,
     * block scales; see {@link #ownCodebookSpace}). Whether k fits the pooled vectors is checked
     * by the caller, who sees them all.
     */
    public static void checkSharing(QuantSpec spec, String ownCodebookSpace) {
        if (spec.sharesCodebooks() && ownCodebookSpace != null) {
            throw new IllegalArgumentException("--share-codebooks " + spec.shareCodebooks()
                    + " cannot be combined with " + ownCodebookSpace);
        }
    }

    /**
     * The checks of a vector method with codebook groups (groupRows × groupSize weights, 0 =
     * all): d in 1..16 dividing the vector axis and the codebook groups, k in 2..65,536 and at
     * most the number of vectors in a group (unless the codebook is shared), the groups tiling
     * the matrix, and the sharing rules.
     */
    public static void checkVector(QuantSpec spec, int d, int k, int groupRows, int groupSize, String ownCodebookSpace,
                                   int rows, int cols, Axis axis) {
        if (groupSize < 0) {
            throw new IllegalArgumentException("--group-size must be >= 0 (0 = whole rows), got " + groupSize);
        }
        if (groupRows < 0) {
            throw new IllegalArgumentException("--group-rows must be >= 0 (0 = all rows), got " + groupRows);
        }
        if (d < 1 || d > 16) {
            throw new IllegalArgumentException("--dim must be 1..16, got " + d);
        }
        if (k < 2 || k > 65536) {
            throw new IllegalArgumentException("--centroids must be 2..65536, got " + k);
        }
        int gRows = groupRows <= 0 ? rows : Math.min(rows, groupRows);
        int gCols = groupSize <= 0 ? cols : Math.min(cols, groupSize);
        boolean in = axis == Axis.IN;
        int along = in ? cols : rows;
        int groupAlong = in ? gCols : gRows;
        String what = in ? "columns" : "rows";
        if (along % d != 0) {
            throw new IllegalArgumentException("--dim " + d + " does not divide the " + along + " " + what);
        }
        if (groupAlong % d != 0) {
            throw new IllegalArgumentException("--dim " + d + " does not divide the codebook group's " + groupAlong
                    + " " + what);
        }
        if (cols % gCols != 0 || rows % gRows != 0) {
            throw new IllegalArgumentException("the codebook group (" + gRows + " rows x " + gCols
                    + " columns) does not tile the " + rows + "x" + cols + " matrix");
        }
        long vectors = (long) gRows * gCols / d;
        checkSharing(spec, ownCodebookSpace);
        if (k > vectors && !spec.sharesCodebooks()) {
            throw new IllegalArgumentException("--centroids " + k + " is more than the " + vectors
                    + " vectors of a codebook group");
        }
    }
}
