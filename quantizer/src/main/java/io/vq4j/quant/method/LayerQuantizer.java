package io.vq4j.quant.method;

import io.vq4j.kernels.packed.PackedMatrix;

/**
 * One quantization method applied to one linear layer, as the job calls it ({@link Method}
 * implements it for every method). Deterministic: the same problem (weights, Hessian, spec,
 * seed) gives the same layer, bit for bit. All heavy arithmetic goes through
 * {@link LayerProblem#backend()}.
 */
public interface LayerQuantizer {
    /** The --method name. */
    String name();

    /** Whether this method needs the layer's Hessian (calibration data). */
    boolean needsHessian();

    /**
     * Checks the spec against a layer shape before any work is done; throws
     * IllegalArgumentException with a one-line reason (e.g. "--dim 3 does not divide 64 columns").
     */
    void validate(QuantSpec spec, int rows, int cols);

    PackedMatrix quantize(LayerProblem problem);
}
