package io.vq4j.kernels.linalg;

import io.vq4j.core.Parallel;

/**
 * H += XᵀX on the lower triangle, for the Hessians of the error-feedback methods, without a
 * dim×dim float temporary. A float times a float is exact in double, so each product is exact
 * and only the sums round: per element, the rows of a chunk of {@value #ROWS} are summed from
 * 0.0 by fused multiply-adds in row order ({@link DoubleKernel}) and the chunk's sum is added to
 * H, chunk after chunk. The order depends on the calls' row counts, never on threads.
 */
public final class Gram {
    /** Rows per chunk: part of the summation order. */
    public static final int ROWS = 256;
    private static final int MC = DoubleKernel.MC;
    private static final int NC = 256;
    /** Rows and columns of a tile of {@link #hessian}. */
    private static final int TILE = 64;

    private Gram() {
    }

    /** The check of a batch of host inputs to a device's GramSums (IllegalArgumentException: a caller's bug). */
    public static void checkBatch(float[] x, int rows, int dim) {
        if (rows < 0 || x.length < (long) rows * dim) {
            throw new IllegalArgumentException("gramSums.add: " + x.length + " inputs for " + rows + "x" + dim);
        }
    }

    /**
     * Rows of a batch of width dim to move to a device at once: all of them where {@code roomBytes}
     * holds them as floats, else whole chunks of {@link #ROWS} (at least one chunk), so the sums come
     * out the same as from one batch.
     */
    public static int batchRows(int rows, int dim, long roomBytes) {
        long rowBytes = Math.max(1, (long) dim * Float.BYTES);
        return (int) Math.min(rows, Math.max(ROWS, roomBytes / rowBytes / ROWS * ROWS));
    }

    /** The arguments' check of every backend's accumulateGram (IllegalArgumentException: a caller's bug). */
    public static void checkArguments(float[] x, int rows, int dim, double[] h) {
        if (rows < 0 || dim < 0 || x.length < (long) rows * dim || h.length < (long) dim * dim) {
            throw new IllegalArgumentException("accumulateGram: " + x.length + " inputs for " + rows + "x" + dim
                    + ", " + h.length + " sums for " + dim + "x" + dim);
        }
    }

    /**
     * The proxy Hessian from {@link #accumulate}'s sums, in place ({@code Backend.hessianFromGram}):
     * for j ≤ i, v = h[i·dim + j] · (2 / count) goes to h[i·dim + j] and h[j·dim + i]; a diagonal
     * element that is then 0 becomes 1; each diagonal element gets percdamp · mean(diag), the mean
     * summed in index order; hf (when not null) gets (float) of every element. The tiles of 64
     * rows run in parallel: a tile writes its own rows' lower part and the upper part of its own
     * columns, which no other tile reads, so the result is that of the plain loop, bit for bit.
     */
    public static void hessian(double[] h, int dim, long count, double percdamp, float[] hf) {
        if (dim < 0 || h.length < (long) dim * dim || hf != null && hf.length < (long) dim * dim) {
            throw new IllegalArgumentException("hessianFromGram: " + h.length + " sums"
                    + (hf == null ? "" : " and " + hf.length + " floats") + " for " + dim + "x" + dim);
        }
        if (count <= 0) {
            throw new IllegalArgumentException("hessianFromGram: no calibration inputs (count " + count + ")");
        }
        double scale = 2.0 / count;
        int tiles = (dim + TILE - 1) / TILE;
        Parallel.forEach(0, tiles, t -> {
            int i0 = t * TILE, i1 = Math.min(dim, i0 + TILE);
            for (int j0 = 0; j0 < i1; j0 += TILE) { // the lower tile (rows i0…, columns j0…), mirrored
                int j1 = Math.min(i1, j0 + TILE);
                for (int i = i0; i < i1; i++) {
                    for (int j = j0, e = Math.min(j1, i + 1); j < e; j++) {
                        double v = h[i * dim + j] * scale;
                        h[i * dim + j] = v;
                        h[j * dim + i] = v;
                    }
                }
            }
        });
        double diagMean = 0;
        for (int i = 0; i < dim; i++) {
            if (h[i * dim + i] == 0) {
                h[i * dim + i] = 1;
            }
            diagMean += h[i * dim + i];
        }
        diagMean /= dim;
        for (int i = 0; i < dim; i++) {
            h[i * dim + i] += percdamp * diagMean;
        }
        if (hf != null) {
            Parallel.forChunks(0, dim * dim, 1 << 16, (lo, hi) -> {
                for (int e = lo; e < hi; e++) {
                    hf[e] = (float) h[e];
                }
            });
        }
    }

    /**
     * h[i·dim + j] += Σ_r x[r·dim + i]·x[r·dim + j] for j ≤ i (x is rows×dim, row-major); the
     * strict upper triangle of h is not touched.
     */
    public static void accumulate(float[] x, int rows, int dim, double[] h) {
        checkArguments(x, rows, dim, h);
        if (rows == 0 || dim == 0) {
            return;
        }
        int rcMax = Math.min(rows, ROWS);
        double[] xd = new double[rcMax * dim];
        double[] bp = new double[DoubleKernel.packedB(rcMax, dim)];
        int blocks = (dim + MC - 1) / MC;
        for (int r0 = 0; r0 < rows; r0 += ROWS) {
            int rc = Math.min(ROWS, rows - r0);
            int from = r0 * dim;
            Parallel.forChunks(0, rc * dim, 1 << 14, (lo, hi) -> {
                for (int e = lo; e < hi; e++) {
                    xd[e] = x[from + e];
                }
            });
            InverseCholesky.packB(xd, 0, dim, 1, rc, dim, bp, 0); // B(r, j) = x[r][j]
            Parallel.forEach(0, (blocks + 1) / 2, t -> { // block t with block (blocks − 1 − t): equal work
                double[] ap = new double[DoubleKernel.packedA(MC, rc)];
                block(xd, bp, rc, dim, h, ap, t);
                if (blocks - 1 - t != t) {
                    block(xd, bp, rc, dim, h, ap, blocks - 1 - t);
                }
            });
        }
    }

    private static void block(double[] xd, double[] bp, int rc, int dim, double[] h, double[] ap, int block) {
        int i0 = block * MC;
        int i1 = Math.min(dim, i0 + MC);
        DoubleKernel.packA(xd, i0, 1, dim, i1 - i0, rc, ap, 0); // A(i, r) = x[r][i]
        for (int j0 = 0; j0 < i1; j0 += NC) {
            DoubleKernel.product(ap, 0, bp, j0 * rc, rc, h, i0 * dim + j0, dim, i1 - i0, Math.min(NC, i1 - j0), i0 - j0,
                    false);
        }
    }
}
