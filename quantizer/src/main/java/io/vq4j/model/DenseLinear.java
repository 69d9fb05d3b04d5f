package io.vq4j.model;

/**
 * A linear layer with fp32 weights held in memory, row-major [out][in], optional bias.
 * Reference implementation; the vectorised kernel replaces the body of {@link #forward}.
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
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                float s = 0;
                for (int i = 0; i < in; i++) {
                    s += x[r * in + i] * weight[o * in + i];
                }
                y[r * out + o] = bias == null ? s : s + bias[o];
            }
        }
    }
}
