package io.vq4j.model;

/**
 * A linear layer y = W x (+ b), W of shape [out][in]. The forward pass only ever talks to
 * this interface, so dense, dequantized and packed weights plug in without touching it.
 */
public interface Linear {
    int inFeatures();

    int outFeatures();

    /**
     * For each of {@code rows} input rows: {@code y[r*out + o] = sum_i x[r*in + i] * W[o][i] + b[o]}.
     * {@code x} holds at least rows*in floats, {@code y} at least rows*out; y is overwritten.
     */
    void forward(float[] x, float[] y, int rows);
}
