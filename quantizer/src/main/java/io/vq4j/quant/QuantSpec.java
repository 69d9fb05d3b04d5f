package io.vq4j.quant;

import java.util.List;

/**
 * Every option of `vq quantize`, one record; each method reads the options it uses and
 * {@link LayerQuantizer#validate} refuses combinations it cannot honour. Names follow the CLI.
 *
 * @param method            rtn | gptq | kmeans | gptvq | vptq
 * @param bits              scalar bits (rtn, gptq), 2..8
 * @param groupSize         scalar: columns per scale group (0 = whole row); kmeans/gptvq:
 *                          columns per codebook group (0 = whole row span)
 * @param symmetric         scalar grids: symmetric instead of asymmetric
 * @param dim               VQ sub-vector length d, 1..16
 * @param centroids         VQ codebook size k, 2..65,536
 * @param groupRows         VQ codebook group height in rows (0 = all rows); kmeans with
 *                          groupRows = 0 and groupSize = 0 is one codebook per tensor
 * @param residualCentroids VPTQ residual stages' codebook sizes, in order (empty = none)
 * @param outlierPercent    VPTQ: percent of columns (highest diag H) with their own codebook
 * @param outlierCentroids  VPTQ: the outlier codebook's size (0 = same as centroids)
 * @param perm              VPTQ: order columns by diag H
 * @param norm              VPTQ: per-input-channel scale and bias
 * @param actOrder          GPTQ: quantize columns in order of decreasing diag H
 * @param blockSize         GPTQ/GPTVQ lazy-update block width B
 * @param iters             k-means/EM iterations
 * @param tol               k-means relative improvement that stops early
 * @param init              k-means seeding: "kmeans++" or "mahalanobis"
 * @param codebookUpdate    GPTVQ: least-squares codebook update after the GPTQ loop
 * @param blockNorm         GPTVQ: blockwise normalisation with 4-bit log-domain scales; 0 = off,
 *                          else the number of columns per scale
 * @param int8Codebooks     store codebooks as int8 + an fp16 scale instead of fp16
 * @param percdamp          Hessian damping λ: H += λ · mean(diag H) · I
 * @param shareCodebooks    kmeans/gptvq/vptq: "none" (a codebook per layer), "kind" (one per kind of
 *                          layer — q_proj, …, down_proj — shared by every block), "all" (one for
 *                          every layer); a shared codebook is fitted once on the pooled weights
 *                          and stored once in the packed directory
 */
public record QuantSpec(String method, int bits, int groupSize, boolean symmetric, int dim, int centroids,
                        int groupRows, List<Integer> residualCentroids, double outlierPercent, int outlierCentroids,
                        boolean perm, boolean norm, boolean actOrder, int blockSize, int iters, double tol,
                        String init, boolean codebookUpdate, int blockNorm, boolean int8Codebooks, double percdamp,
                        String shareCodebooks) {

    /** --share-codebooks values: one codebook per layer, per kind of layer across blocks, one for all. */
    public static final List<String> SHARING = List.of("none", "kind", "all");

    public QuantSpec {
        residualCentroids = List.copyOf(residualCentroids);
        if (!SHARING.contains(shareCodebooks)) {
            throw new IllegalArgumentException("--share-codebooks must be none, kind or all, got '" + shareCodebooks
                    + "'");
        }
    }

    /** Whether the first codebook stage is shared between layers (--share-codebooks kind|all). */
    public boolean sharesCodebooks() {
        return !shareCodebooks.equals("none");
    }

    public QuantSpec withShareCodebooks(String v) {
        return new QuantSpec(method, bits, groupSize, symmetric, dim, centroids, groupRows, residualCentroids,
                outlierPercent, outlierCentroids, perm, norm, actOrder, blockSize, iters, tol, init, codebookUpdate,
                blockNorm, int8Codebooks, percdamp, v);
    }

    /** Defaults for a method; the CLI overrides what the user gives. */
    public static QuantSpec defaults(String method) {
        return new QuantSpec(method, 4, 128, false, 2, 256, 0, List.of(), 0.0, 0, false, false, false, 128, 25,
                1e-4, "kmeans++", true, 0, false, 0.01, "none");
    }

    public QuantSpec withBits(int v) {
        return new QuantSpec(method, v, groupSize, symmetric, dim, centroids, groupRows, residualCentroids,
                outlierPercent, outlierCentroids, perm, norm, actOrder, blockSize, iters, tol, init, codebookUpdate,
                blockNorm, int8Codebooks, percdamp, shareCodebooks);
    }

    public QuantSpec withGroupSize(int v) {
        return new QuantSpec(method, bits, v, symmetric, dim, centroids, groupRows, residualCentroids,
                outlierPercent, outlierCentroids, perm, norm, actOrder, blockSize, iters, tol, init, codebookUpdate,
                blockNorm, int8Codebooks, percdamp, shareCodebooks);
    }

    public QuantSpec withVq(int dim, int centroids) {
        return new QuantSpec(method, bits, groupSize, symmetric, dim, centroids, groupRows, residualCentroids,
                outlierPercent, outlierCentroids, perm, norm, actOrder, blockSize, iters, tol, init, codebookUpdate,
                blockNorm, int8Codebooks, percdamp, shareCodebooks);
    }

    public QuantSpec withGroupRows(int v) {
        return new QuantSpec(method, bits, groupSize, symmetric, dim, centroids, v, residualCentroids,
                outlierPercent, outlierCentroids, perm, norm, actOrder, blockSize, iters, tol, init, codebookUpdate,
                blockNorm, int8Codebooks, percdamp, shareCodebooks);
    }

    public QuantSpec withResidual(List<Integer> v) {
        return new QuantSpec(method, bits, groupSize, symmetric, dim, centroids, groupRows, v,
                outlierPercent, outlierCentroids, perm, norm, actOrder, blockSize, iters, tol, init, codebookUpdate,
                blockNorm, int8Codebooks, percdamp, shareCodebooks);
    }

    public QuantSpec withOutliers(double percent, int outlierK) {
        return new QuantSpec(method, bits, groupSize, symmetric, dim, centroids, groupRows, residualCentroids,
                percent, outlierK, perm, norm, actOrder, blockSize, iters, tol, init, codebookUpdate,
                blockNorm, int8Codebooks, percdamp, shareCodebooks);
    }

    public QuantSpec withFlags(boolean symmetric, boolean perm, boolean norm, boolean actOrder, boolean codebookUpdate,
                               boolean int8Codebooks) {
        return new QuantSpec(method, bits, groupSize, symmetric, dim, centroids, groupRows, residualCentroids,
                outlierPercent, outlierCentroids, perm, norm, actOrder, blockSize, iters, tol, init, codebookUpdate,
                blockNorm, int8Codebooks, percdamp, shareCodebooks);
    }

    public QuantSpec withIterations(int iters, double tol, String init) {
        return new QuantSpec(method, bits, groupSize, symmetric, dim, centroids, groupRows, residualCentroids,
                outlierPercent, outlierCentroids, perm, norm, actOrder, blockSize, iters, tol, init, codebookUpdate,
                blockNorm, int8Codebooks, percdamp, shareCodebooks);
    }

    public QuantSpec withBlocks(int blockSize, int blockNorm, double percdamp) {
        return new QuantSpec(method, bits, groupSize, symmetric, dim, centroids, groupRows, residualCentroids,
                outlierPercent, outlierCentroids, perm, norm, actOrder, blockSize, iters, tol, init, codebookUpdate,
                blockNorm, int8Codebooks, percdamp, shareCodebooks);
    }
}
