package io.vq4j.model;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.PackedWeights;

/**
 * A linear layer whose weights stay packed on a backend's device: each forward is one
 * {@link Backend#dequantMatmul} over the packed indices and codebooks, no dense copy of W
 * anywhere. The bias, if any, is added on the host.
 */
public final class PackedLinear implements Linear {
    private final Backend backend;
    private final PackedWeights weights;
    private final float[] bias;

    public PackedLinear(Backend backend, PackedWeights weights, float[] bias) {
        if (bias != null && bias.length != weights.matrix().rows()) {
            throw new IllegalArgumentException("bias has " + bias.length + " floats, expected " + weights.matrix().rows());
        }
        this.backend = backend;
        this.weights = weights;
        this.bias = bias;
    }

    public PackedWeights weights() {
        return weights;
    }

    public Backend backend() {
        return backend;
    }

    /** The bias added on the host, or null (not copied: do not modify). */
    public float[] bias() {
        return bias;
    }

    @Override
    public int inFeatures() {
        return weights.matrix().cols();
    }

    @Override
    public int outFeatures() {
        return weights.matrix().rows();
    }

    @Override
    public void forward(float[] x, float[] y, int rows) {
        backend.dequantMatmul(weights, x, rows, y);
        if (bias != null) {
            int out = bias.length;
            for (int r = 0; r < rows; r++) {
                for (int o = 0; o < out; o++) {
                    y[r * out + o] += bias[o];
                }
            }
        }
    }
}
