package io.vq4j.quant.job;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.quant.Methods;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.method.QuantSpec;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A configuration per layer (vq quantize --target-bpw): the spec each layer is quantized with,
 * by tensor name, and the record of how it was chosen (written into the checkpoint record, so a
 * resumed run goes on with the same choice, into the run's fingerprint and into the report).
 * Every spec must share the run spec's damping and share no codebook.
 */
public record LayerPlan(Map<String, QuantSpec> specs, ObjectNode record) {
    public LayerPlan {
        specs = Map.copyOf(new LinkedHashMap<>(specs));
        for (QuantSpec s : specs.values()) {
            if (s.sharesCodebooks()) {
                throw new IllegalArgumentException("a per-layer plan cannot share codebooks (" + s + ")");
            }
        }
    }

    /** The quantizer that quantizes each layer with its own spec (the job's damping applies to all). */
    public LayerQuantizer quantizer() {
        return new LayerQuantizer() {
            @Override
            public String name() {
                return "mixed";
            }

            @Override
            public boolean needsHessian() {
                return specs.values().stream().anyMatch(s -> Methods.forName(s.method()).needsHessian());
            }

            @Override
            public void validate(QuantSpec spec, int rows, int cols) {
                // each layer's spec was validated on its shape when the plan was made
            }

            @Override
            public PackedMatrix quantize(LayerProblem p) {
                QuantSpec s = specs.get(p.name());
                if (s == null) {
                    throw new IllegalStateException("the plan has no configuration for " + p.name());
                }
                LayerQuantizer q = Methods.forName(s.method());
                return q.quantize(new LayerProblem(p.name(), p.weight(), p.rows(), p.cols(),
                        q.needsHessian() ? p.hessian() : null, s, p.backend(), p.seed(), null,
                        q.needsHessian() ? p.hessianFloat() : null));
            }
        };
    }
}
