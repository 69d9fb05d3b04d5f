package io.vq4j.kernels.device;

import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.packed.PackedMatrix;

/**
 * Packed weights uploaded by a {@link GpuBackend}: the matrix and the backend that owns them.
 * A subclass holds the device's copy and frees it in {@link #free()}; {@link #close()} goes
 * through the owner, which stops owning and counting them and frees them once.
 */
public abstract class DeviceWeights implements PackedWeights {
    private final GpuBackend<?> owner;
    private final PackedMatrix matrix;
    /** Guarded by the owner's lock. */
    boolean closed;

    protected DeviceWeights(GpuBackend<?> owner, PackedMatrix matrix) {
        this.owner = owner;
        this.matrix = matrix;
    }

    final GpuBackend<?> owner() {
        return owner;
    }

    @Override
    public final PackedMatrix matrix() {
        return matrix;
    }

    @Override
    public final long deviceBytes() {
        return matrix.deviceBytes();
    }

    /** Frees the device's copy; called once, under the owner's lock. */
    protected abstract void free();

    @Override
    public final void close() {
        owner.release(this);
    }
}
