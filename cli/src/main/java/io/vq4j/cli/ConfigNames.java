package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.quant.QuantSpec;

/** --config NAME: VPTQ-style names, resolved by the vptq method's parser. */
final class ConfigNames {
    private ConfigNames() {
    }

    static QuantSpec apply(String name, QuantSpec s) {
        throw new InputException("--config: VPTQ-style names are not supported yet");
    }
}
