package io.vq4j.quant.budget;

import io.vq4j.quant.method.QuantSpec;

/** One configuration a --target-bpw run may give a layer: its name (as vq sweep --configs names it) and spec. */
public record Candidate(String name, QuantSpec spec) {
}
