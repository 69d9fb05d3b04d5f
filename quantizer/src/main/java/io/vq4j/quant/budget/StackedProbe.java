package io.vq4j.quant.budget;

/**
 * The stacked effect of one layer's candidate: the whole model run with only that layer
 * replaced by the candidate's weights (every other layer unquantized), compared with the
 * unquantized model on calibration data. The allocator sums it over layers (a first-order,
 * additive model of the stacked loss).
 */
@FunctionalInterface
public interface StackedProbe {
    /**
     * @param name    the layer's tensor name
     * @param weights the layer's weights as the candidate quantizes them, rows x cols row-major
     * @return the loss of the model with only this layer replaced (0 when it changes nothing)
     */
    double loss(String name, float[] weights);
}
