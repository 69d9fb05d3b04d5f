package io.vq4j.quant.core;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.GramSums;
import io.vq4j.kernels.ResidentMatrix;

/**
 * The proxy Hessian of a linear layer, H = 2/n Σ x xᵀ over its n calibration inputs x
 * (GPTQ §2; GPTVQ §3). The sums are the backend's {@link GramSums} (the lower triangle of XᵀX in
 * double: exact float products, double sums in a fixed order), held where the backend computes
 * (a device's memory) from the first batch to {@link #hessian}, so long runs neither lose
 * precision nor depend on timing, no dim×dim temporary is made, and a device moves the sums out
 * once. {@link #close()} lets go of them when the Hessian is not made (a run that stops early).
 */
public final class HessianAccumulator implements AutoCloseable {
    private final Backend backend;
    private final int dim;
    private GramSums sums; // null once the Hessian is made from them, or closed
    private long count;

    public HessianAccumulator(Backend backend, int dim) {
        this.backend = backend;
        this.dim = dim;
        this.sums = backend.gramSums(dim);
    }

    public int dim() {
        return dim;
    }

    public long count() {
        return count;
    }

    /** Adds {@code rows} input vectors (rows×dim, row-major). */
    public void add(float[] x, int rows) {
        GramSums s = sums();
        if (rows == 0) {
            return;
        }
        s.add(x, rows);
        count += rows;
    }

    private GramSums sums() {
        if (sums == null) {
            throw new IllegalStateException("this Hessian was made already; no inputs can be added");
        }
        return sums;
    }

    /** Adds the first {@code rows} rows of a resident matrix of this accumulator's backend (dim wide), where it lies. */
    public void add(ResidentMatrix x, int rows) {
        if (x.cols() != dim) {
            throw new IllegalArgumentException("Hessian of width " + dim + ", inputs of " + x.cols());
        }
        GramSums s = sums();
        if (rows == 0) {
            return;
        }
        s.add(x, rows);
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
     * {@link Backend#hessianFromGram} makes H in the array the sums were taken into, which is
     * returned: the accumulator is spent (adding or asking again is refused).
     * {@code hf}, when not null (dim × dim), receives H as floats.
     */
    public double[] hessian(double percdamp, float[] hf) {
        if (count == 0) {
            throw new IllegalStateException("no calibration inputs were added");
        }
        if (sums == null) {
            throw new IllegalStateException("this Hessian was made already; its sums are gone");
        }
        GramSums s = sums;
        sums = null;
        double[] h = s.take();
        backend.hessianFromGram(h, dim, count, percdamp, hf);
        return h;
    }

    /** Lets go of the sums if the Hessian was not made; idempotent. */
    @Override
    public void close() {
        if (sums != null) {
            sums.close();
            sums = null;
        }
    }
}
