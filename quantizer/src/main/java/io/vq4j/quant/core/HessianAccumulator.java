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
    private double[] sum; // null once the Hessian is made from it
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
        backend.accumulateGram(x, rows, dim, sums());
        count += rows;
    }

    private double[] sums() {
        if (sum == null) {
            throw new IllegalStateException("this Hessian was made already; no inputs can be added");
        }
        return sum;
    }

    /** Adds the first {@code rows} rows of a resident matrix of this accumulator's backend (dim wide), where it lies. */
    public void add(ResidentMatrix x, int rows) {
        if (x.cols() != dim) {
            throw new IllegalArgumentException("Hessian of width " + dim + ", inputs of " + x.cols());
        }
        if (rows == 0) {
            return;
        }
        backend.accumulateGram(x, rows, sums());
        count += rows;
    }

    /** {@link #hessian(double, float[])} without the float copy. */
    public double[] hessian(double percdamp) {
        return hessian(percdamp, null);
    }

    /**
     * H = 2/n Σ x xᵀ, then dampened: H += percdamp · mean(diag H) · I. A column that never saw
     * a non-zero input (diag 0) gets H_ii = 1 so H stays positive definite; its weights have no
     * effect on the output, whatever they are quantized to. The backend's
     * {@link Backend#hessianFromGram} makes H in the double sums' own array, which is returned:
     * the accumulator is spent (no dim × dim copy is made; adding or asking again is refused).
     * {@code hf}, when not null (dim × dim), receives H as floats.
     */
    public double[] hessian(double percdamp, float[] hf) {
        if (count == 0) {
            throw new IllegalStateException("no calibration inputs were added");
        }
        double[] h = spend();
        backend.hessianFromGram(h, dim, count, percdamp, hf);
        return h;
    }

    private double[] spend() {
        if (sum == null) {
            throw new IllegalStateException("this Hessian was made already; its sums are gone");
        }
        double[] s = sum;
        sum = null;
        return s;
    }
}
