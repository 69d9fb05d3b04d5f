package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.quant.QuantSpec;
import io.vq4j.quant.VptqConfig;

/** --config NAME: VPTQ-style names (v8-k65536-256: d = 8, k = 65,536, one residual stage of 256). */
final class ConfigNames {
    private ConfigNames() {
    }

    static QuantSpec apply(String name, QuantSpec s) {
        try {
            return VptqConfig.parse(name).apply(s);
        } catch (IllegalArgumentException e) {
            throw new InputException("--config: " + e.getMessage());
        }
    }
}
