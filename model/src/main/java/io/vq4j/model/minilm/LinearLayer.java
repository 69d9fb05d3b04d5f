package io.vq4j.model.minilm;

/**
 * One linear layer of the encoder, y = W x + b, as a quantizer sees it: a stable name
 * ({@code layer.3.attn.q}, {@code layer.3.ffn.in}, …), W row-major with {@code rows} = output
 * features and {@code cols} = input features (PyTorch's [out, in], whatever the file stored),
 * and the bias (length rows). The arrays are the model's own: read them, do not write them.
 */
public record LinearLayer(String name, int rows, int cols, float[] weight, float[] bias) {
    public LinearLayer {
        if (weight.length != (long) rows * cols || bias.length != rows) {
            throw new IllegalArgumentException(name + ": weight " + weight.length + " / bias " + bias.length
                    + " floats do not fit " + rows + "x" + cols);
        }
    }
}
