package io.vq4j.model;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ResidentMatrix;

/**
 * What calibration sees of a decoder block while {@link DecoderBlock#forward(LayerWeights, float[][], int,
 * ActivationHook)} runs it, and where it may change the block: for each {@link LinearGroup}, in
 * forward order, the group's input for every sequence, then a chance to replace the block's
 * weights before the rest of the block runs on them (true-sequential quantization: o is
 * calibrated on the output of the already-quantized q/k/v, and so on).
 */
public interface ActivationHook {
    /**
     * The input of {@code group}'s linear layers for one sequence, {@code rows} × the group's
     * {@link LinearGroup#inputWidth input width}, row-major. Sequences come in order. The array
     * is reused after the call returns: copy what you keep.
     */
    void input(LinearGroup group, int sequence, float[] x, int rows);

    /**
     * The same input as a matrix of {@code backend}'s ({@link ResidentBlock}: the calibration
     * forward on a backend), rows × the group's input width, overwritten after the call returns.
     * The default reads it back to the host for {@link #input(LinearGroup, int, float[], int)}.
     */
    default void input(LinearGroup group, int sequence, ResidentMatrix x, int rows, Backend backend) {
        float[] h = new float[Math.multiplyExact(rows, x.cols())];
        backend.read(x, 0, 0, rows, x.cols(), h, 0, x.cols());
        input(group, sequence, h, rows);
    }

    /**
     * Called once every sequence's input of {@code group} was seen: the block's weights to run
     * the rest of the block with ({@code lw} when nothing changes).
     */
    default LayerWeights weights(LinearGroup group, LayerWeights lw) {
        return lw;
    }
}
