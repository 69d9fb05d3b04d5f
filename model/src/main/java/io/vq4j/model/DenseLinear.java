package io.vq4j.model;

import io.vq4j.kernels.cpu.PackedMatmul;

/**
 * A linear layer with fp32 weights held in memory (packed once for the matmul kernel),
 * optional bias.
 */
public final class DenseLinear implements Linear {
    private final PackedMatmul packed;
    private final float[] bias;
    private final int out;
    private final int in;

    public DenseLinear(float[] weight, float[] bias, int out, int in) {
        if (weight.length != (long) out * in) {
            throw new IllegalArgumentException("weight has " + weight.length + " floats, expected " + out + "x" + in);
        }
        if (bias != null && bias.length != out) {
            throw new IllegalArgumentException("bias has " + bias.length + " floats, expected " + out);
        }
        this.packed = PackedMatmul.pack(weight, out, in);
        this.bias = bias;
        this.out = out;
        this.in = in;
    }

    /** The weights, row-major [out][in] (unpacked anew on each call). */
    public float[] weight() {
        return packed.unpack();
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
        packed.multiply(x, rows, bias, y);
    }
}
