package io.vq4j.kernels;

import io.vq4j.kernels.packed.PackedMatrix;

/**
 * Packed weights held by one backend (on its device, for a GPU backend) from
 * {@link Backend#upload} until {@link #close()}: uploaded once, used by any number of
 * {@link Backend#dequantMatmul} calls. Only the backend that made it accepts it.
 */
public interface PackedWeights extends AutoCloseable {
    PackedMatrix matrix();

    /** Bytes held on the device (0 for the CPU backend, which reads the host arrays). */
    long deviceBytes();

    @Override
    void close();
}
