package io.vq4j.model;

import io.vq4j.kernels.cpu.CpuKernels;

/**
 * A linear layer with fp32 weights held in memory, row-major [out][in], optional bias.
 */
public final class DenseLinear implements Linear {
    private final float[] weight;
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
        this.weight = weight;
        this.bias = bias;
        this.out = out;
        this.in = in;
    }

    public float[] weight() {
        return weight;
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
        CpuKernels.matmulTransposed(x, rows, in, weight, out, bias, y);
    }
}
