package io.vq4j.quant.core;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ResidentMatrix;

/**
 * The proxy Hessian of a linear layer, H = 2/n Σ x xᵀ over its n calibration inputs x
 * (GPTQ §2; GPTVQ §3). Each batch goes to the backend's {@link Backend#accumulateGram} (the lower
 * triangle of XᵀX added to the double sums: exact float products, double sums in a fixed order),
 * so long runs neither lose precision nor depend on timing, and no dim×dim temporary is made.
 */
public final class HessianAccumulator {
    private final Backend backend;
    private final int dim;
    private final double[] sum;
    private long count;

    public HessianAccumulator(Backend backend, int dim) {
        this.backend = backend;
        this.dim = dim;
        this.sum = new double[dim * dim];
    }

    public int dim() {
        return dim;
    }

    public long count() {
        return count;
    }

    /** Adds {@code rows} input vectors (rows×dim, row-major). */
    public void add(float[] x, int rows) {
        if (rows == 0) {
            return;
        }
        backend.accumulateGram(x, rows, dim, sum);
        count += rows;
    }

    /** Adds the first {@code rows} rows of a resident matrix of this accumulator's backend (dim wide), where it lies. */
    public void add(ResidentMatrix x, int rows) {
        if (x.cols() != dim) {
            throw new IllegalArgumentException("Hessian of width " + dim + ", inputs of " + x.cols());
        }
        if (rows == 0) {
            return;
        }
        backend.accumulateGram(x, rows, sum);
        count += rows;
    }

    /**
     * H = 2/n Σ x xᵀ, then dampened: H += percdamp · mean(diag H) · I. A column that never saw
     * a non-zero input (diag 0) gets H_ii = 1 so H stays positive definite; its weights have no
     * effect on the output, whatever they are quantized to.
     */
    public double[] hessian(double percdamp) {
        if (count == 0) {
            throw new IllegalStateException("no calibration inputs were added");
        }
        double[] h = new double[dim * dim];
        double scale = 2.0 / count;
        double diagMean = 0;
        for (int i = 0; i < dim; i++) { // the sums are the lower triangle: mirrored
            for (int j = 0; j <= i; j++) {
                double v = sum[i * dim + j] * scale;
                h[i * dim + j] = v;
                h[j * dim + i] = v;
            }
        }
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
        return h;
    }
}
