package io.vq4j.model;

import java.util.List;

/**
 * The linear layers of a decoder block grouped by the input they share, in forward order:
 * q/k/v read the attention norm's output, o the attention, gate/up the MLP norm's output,
 * down the SwiGLU product. Calibration collects one Hessian per group and quantizes the groups
 * in this order (true-sequential). Names are the Hugging Face ones without the block prefix.
 */
public enum LinearGroup {
    QKV("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    O("self_attn.o_proj"),
    GATE_UP("mlp.gate_proj", "mlp.up_proj"),
    DOWN("mlp.down_proj");

    private final List<String> linears;

    LinearGroup(String... linears) {
        this.linears = List.of(linears);
    }

    /** The group's linear layers (HF names such as self_attn.q_proj), in quantization order. */
    public List<String> linears() {
        return linears;
    }

    /** The width of the group's input: dim, qDim, dim or hiddenDim. */
    public int inputWidth(LlamaConfig c) {
        return switch (this) {
            case QKV, GATE_UP -> c.dim();
            case O -> c.qDim();
            case DOWN -> c.hiddenDim();
        };
    }
}
