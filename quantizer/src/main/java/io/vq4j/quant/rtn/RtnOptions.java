package io.vq4j.quant.rtn;

import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.MethodOptions;
import io.vq4j.quant.method.OptionTable;

import static io.vq4j.quant.method.SharedOptions.BITS;
import static io.vq4j.quant.method.SharedOptions.GROUP_SIZE;
import static io.vq4j.quant.method.SharedOptions.SYMMETRIC;

/**
 * The options of rtn.
 *
 * @param bits      scalar bits, 2..8
 * @param groupSize columns per scale group (0 = whole row)
 * @param symmetric symmetric instead of asymmetric grids
 */
public record RtnOptions(int bits, int groupSize, boolean symmetric) implements MethodOptions {
    /** The options rtn takes, with its defaults. */
    public static final OptionTable<RtnOptions> TABLE = OptionTable.<RtnOptions>builder()
            .add(BITS, RtnOptions::bits)
            .add(GROUP_SIZE, RtnOptions::groupSize)
            .add(SYMMETRIC, RtnOptions::symmetric)
            .build(v -> new RtnOptions(v.get(BITS), v.get(GROUP_SIZE), v.get(SYMMETRIC)));

    @Override
    public Method<RtnOptions> method() {
        return RtnQuantizer.METHOD;
    }
}
