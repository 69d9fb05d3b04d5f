package io.vq4j.quant.calib;

import io.vq4j.kernels.packed.PackedMatrix;

/**
 * One linear layer as calibration quantized it.
 *
 * @param name          the tensor name without ".weight"
 * @param linear        its name within the block (self_attn.q_proj, attn.q, ...)
 * @param packed        the quantized layer
 * @param dequantized   its weights as the model goes on with them, rows × cols
 * @param hessianError  tr((W−Q) H (W−Q)ᵀ) with the layer's calibration Hessian H
 * @param relativeError that over tr(W H Wᵀ) (0 when that is 0)
 * @param seconds       the quantizer's time
 */
public record CalibratedLayer(String name, String linear, PackedMatrix packed, float[] dequantized, int rows,
                              int cols, double hessianError, double relativeError, double seconds) {
}
