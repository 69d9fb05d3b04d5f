package io.vq4j.quant;

import io.vq4j.kernels.packed.PackedMatrix;

/** Method "rtn": scalar round-to-nearest per group ({@link Rtn}), no calibration data. */
public final class RtnQuantizer implements LayerQuantizer {
    @Override
    public String name() {
        return "rtn";
    }

    @Override
    public boolean needsHessian() {
        return false;
    }

    @Override
    public void validate(QuantSpec spec, int rows, int cols) {
        Methods.checkScalar(spec, cols);
    }

    @Override
    public PackedMatrix quantize(LayerProblem p) {
        QuantSpec s = p.spec();
        int g = s.groupSize() <= 0 ? p.cols() : s.groupSize();
        Rtn.Quantized q = Rtn.quantize(p.weight(), p.rows(), p.cols(), s.bits(), g, s.symmetric());
        return PackedMatrix.builder(p.rows(), p.cols()).method(name())
                .scalar("", 0, p.cols(), s.bits(), g, s.symmetric(), q.codes(), q.scales(), q.zeros()).build();
    }
}
