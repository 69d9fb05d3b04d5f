package io.vq4j.quant.rtn;

import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.quant.core.Checks;
import io.vq4j.quant.core.Rtn;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.QuantSpec;


/** Method "rtn": scalar round-to-nearest per group ({@link Rtn}), no calibration data. */
public final class RtnQuantizer implements Method.Algorithm<RtnOptions> {
    public static final Method<RtnOptions> METHOD = Method.scalarWithoutSeed("rtn", RtnOptions.class, false,
            RtnOptions.TABLE, new RtnQuantizer());

    private RtnQuantizer() {
    }

    private static String name() {
        return METHOD.name();
    }

    @Override
    public void validate(RtnOptions s, QuantSpec spec, int rows, int cols) {
        Checks.checkScalar(name(), s.bits(), s.groupSize());
    }

    @Override
    public PackedMatrix quantize(LayerProblem p, RtnOptions s) {
        int g = s.groupSize() <= 0 ? p.cols() : s.groupSize();
        Rtn.Quantized q = Rtn.quantize(p.weight(), p.rows(), p.cols(), s.bits(), g, s.symmetric());
        return PackedMatrix.builder(p.rows(), p.cols()).method(name())
                .scalar("", 0, p.cols(), s.bits(), g, s.symmetric(), q.codes(), q.scales(), q.zeros()).build();
    }
}
