package io.vq4j.quant.calib;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ResidentMatrix;

import io.vq4j.quant.method.LayerProblem.SharedCodebook;

import java.util.List;
import java.util.Map;

/**
 * A model as the {@link Calibration} driver quantizes it: blocks one after the other, each
 * cut into steps. A decoder has four steps a block (q/k/v, o, gate/up, down: each calibrated
 * on the output of the already-quantized ones before it); the MiniLM encoder one step with its
 * six linears, each with its own input. The kind of model owns its forward pass; the driver
 * owns the Hessians, the quantizer calls and what is reported.
 */
public interface CalibrationTarget {
    /** Linear layers that read one input and so share one Hessian (q, k and v), {@code inputWidth} wide. */
    record Group(List<String> linears, int inputWidth) {
        public Group {
            linears = List.copyOf(linears);
        }
    }

    /** The groups whose inputs one pass over the calibration data gives, quantized together before the pass goes on. */
    record Step(List<Group> groups) {
        public Step {
            groups = List.copyOf(groups);
        }
    }

    /** A linear layer's unquantized weights, rows (out features) × cols (in features), row-major. */
    record Weight(float[] values, int rows, int cols) {
    }

    /** Receives one block's calibration pass. */
    interface StepSink {
        /** A batch of inputs ({@code rows} × the group's width) of group {@code group} of the current step. */
        void input(int group, float[] x, int rows);

        /**
         * The same batch as a resident matrix of {@code backend} (the calibration forward on a
         * backend); the default reads it back for {@link #input(int, float[], int)}.
         */
        default void input(int group, ResidentMatrix x, int rows, Backend backend) {
            float[] h = new float[Math.multiplyExact(rows, x.cols())];
            backend.read(x, 0, 0, rows, x.cols(), h, 0, x.cols());
            input(group, h, rows);
        }

        /**
         * The current step's inputs are all in: quantizes its linears and returns each one's
         * dequantized weights (by linear name, in quantization order), which the pass goes on with.
         */
        Map<String, float[]> quantize();
    }

    int blocks();

    /** The steps of every block, in order; linears by their name within a block. */
    List<Step> steps();

    /** A linear layer's tensor name in block {@code block}: it names the packed layer and seeds its quantizer. */
    String name(int block, String linear);

    /** The unquantized weights of a linear of the block being calibrated. */
    Weight weight(String linear);

    /** The codebook the linear layer must use (--share-codebooks), or null when it fits its own. */
    default SharedCodebook sharedCodebook(String linear) {
        return null;
    }

    /**
     * Runs the calibration data through block {@code block}, whose blocks before are already
     * quantized: for each step in order, every input of its groups to {@link StepSink#input},
     * then {@link StepSink#quantize}, whose weights replace the step's linears for the rest.
     */
    void calibrate(int block, StepSink sink);
}
