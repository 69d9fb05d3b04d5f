package io.vq4j.kernels.device;

import io.vq4j.kernels.ResidentMatrix;

/**
 * A resident matrix in a {@link GpuBackend}'s device memory: rows × cols floats, row-major. A
 * subclass holds the device buffer and frees it in {@link #free()}; {@link #close()} goes
 * through the owner, which stops counting it and frees it once.
 */
public abstract class DeviceMatrix implements ResidentMatrix {
    private final GpuBackend<?> owner;
    private final int rows;
    private final int cols;
    /** Guarded by the owner's lock. */
    boolean closed;

    protected DeviceMatrix(GpuBackend<?> owner, int rows, int cols) {
        this.owner = owner;
        this.rows = rows;
        this.cols = cols;
    }

    final GpuBackend<?> owner() {
        return owner;
    }

    @Override
    public final int rows() {
        return rows;
    }

    @Override
    public final int cols() {
        return cols;
    }

    @Override
    public final long deviceBytes() {
        return Math.max(1, (long) rows * cols * Float.BYTES);
    }

    /** Frees the device buffer; called once, under the owner's lock. */
    protected abstract void free();

    @Override
    public final void close() {
        owner.release(this);
    }

    @Override
    public String toString() {
        return "resident " + rows + "x" + cols + " on " + owner.name();
    }
}
