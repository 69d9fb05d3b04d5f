package io.vq4j.model;

import io.vq4j.kernels.cpu.PackedMatmul;

/**
 * A linear layer with fp32 weights held in memory, optional bias. The weights are packed for the
 * host matmul kernel on the first {@link #forward} (and the row-major array then dropped), so a
 * layer that only ever runs on a backend's resident matrices ({@link ResidentBlock}) is held once,
 * as its row-major array.
 */
public final class DenseLinear implements Linear {
    private final float[] bias;
    private final int out;
    private final int in;
    /** Exactly one of the two is set: the row-major weights until the first forward, then the packed ones. */
    private float[] weight;
    private PackedMatmul packed;

    public DenseLinear(float[] weight, float[] bias, int out, int in) {
        if (weight.length != (long) out * in) {
            throw new IllegalArgumentException("weight has " + weight.length + " floats, expected " + out + "x" + in);
        }
        if (bias != null && bias.length != out) {
            throw new IllegalArgumentException("bias has " + bias.length + " floats, expected " + out);
        }
        this.weight = weight;
        this.bias = bias;
        this.out = out;
        this.in = in;
    }

    /** The weights, row-major [out][in] (a fresh copy on each call). */
    public synchronized float[] weight() {
        return packed != null ? packed.unpack() : weight.clone();
    }

    /**
     * The weights, row-major [out][in], without a copy where the layer holds them so (it has not
     * run on the host yet); the caller must not write into them.
     */
    synchronized float[] weightShared() {
        return packed != null ? packed.unpack() : weight;
    }

    public float[] bias() {
        return bias;
    }

    @Override
    public int inFeatures() {
        return in;
    }

    @Override
    public int outFeatures() {
        return out;
    }

    @Override
    public void forward(float[] x, float[] y, int rows) {
        packed().multiply(x, rows, bias, y);
    }

    private synchronized PackedMatmul packed() {
        if (packed == null) {
            packed = PackedMatmul.pack(weight, out, in);
            weight = null;
        }
        return packed;
    }
}
