package io.vq4j.quant.gptq;

import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.MethodOption;
import io.vq4j.quant.method.MethodOptions;
import io.vq4j.quant.method.OptionTable;

import static io.vq4j.quant.method.SharedOptions.BITS;
import static io.vq4j.quant.method.SharedOptions.BLOCK_SIZE;
import static io.vq4j.quant.method.SharedOptions.GROUP_SIZE;
import static io.vq4j.quant.method.SharedOptions.SYMMETRIC;

/**
 * The options of gptq.
 *
 * @param bits      scalar bits, 2..8
 * @param groupSize columns per scale group (0 = whole row)
 * @param symmetric symmetric instead of asymmetric grids
 * @param actOrder  quantize columns in order of decreasing diag H
 * @param blockSize lazy-update block width B
 */
public record GptqOptions(int bits, int groupSize, boolean symmetric, boolean actOrder, int blockSize)
        implements MethodOptions {
    public static final MethodOption<Boolean> ACT_ORDER = MethodOption.flag("--act-order",
            MethodOption.METHODS + ": columns in order of decreasing diag H");

    /** The options gptq takes, with its defaults. */
    public static final OptionTable<GptqOptions> TABLE = OptionTable.<GptqOptions>builder()
            .add(BITS, GptqOptions::bits)
            .add(GROUP_SIZE, GptqOptions::groupSize)
            .add(SYMMETRIC, GptqOptions::symmetric)
            .add(ACT_ORDER, GptqOptions::actOrder)
            .add(BLOCK_SIZE, GptqOptions::blockSize)
            .build(v -> new GptqOptions(v.get(BITS), v.get(GROUP_SIZE), v.get(SYMMETRIC), v.get(ACT_ORDER),
                    v.get(BLOCK_SIZE)));

    @Override
    public Method<GptqOptions> method() {
        return Gptq.METHOD;
    }
}
