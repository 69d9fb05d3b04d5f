package io.vq4j.quant.calib;

import io.vq4j.model.minilm.LinearLayer;
import io.vq4j.model.minilm.MiniLm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A BERT sentence encoder (all-MiniLM-L6-v2) for the {@link Calibration} driver, block-sequential:
 * for encoder layer L the calibration sentences run through the model whose layers before L
 * are quantized, and all six linears of layer L are calibrated on that one pass, each on its
 * own input (the encoder's forward pass is {@link MiniLm}'s own, its linear inputs seen
 * through its activation sink). Linears are named within a layer as
 * {@link MiniLm#LAYER_LINEARS} (attn.q, ..., ffn.out).
 */
public final class EncoderTarget implements CalibrationTarget {
    private final MiniLm fp;
    private final List<String> sentences;
    private final Map<String, float[]> replaced = new LinkedHashMap<>();
    private final List<Step> steps;
    private int block;

    /** @param sentences the calibration sentences, run whole through the encoder for every layer */
    public EncoderTarget(MiniLm fp, List<String> sentences) {
        this.fp = fp;
        this.sentences = List.copyOf(sentences);
        List<Group> groups = new ArrayList<>();
        for (String linear : MiniLm.LAYER_LINEARS) {
            groups.add(new Group(List.of(linear), fp.linear(MiniLm.linearName(0, linear)).cols()));
        }
        this.steps = List.of(new Step(groups));
    }

    @Override
    public int blocks() {
        return fp.config().layers();
    }

    @Override
    public List<Step> steps() {
        return steps;
    }

    @Override
    public String name(int b, String linear) {
        return MiniLm.linearName(b, linear);
    }

    @Override
    public Weight weight(String linear) {
        LinearLayer l = fp.linear(MiniLm.linearName(block, linear));
        return new Weight(l.weight(), l.rows(), l.cols());
    }

    @Override
    public void calibrate(int b, StepSink sink) {
        block = b;
        List<String> names = MiniLm.linearNames(b);
        MiniLm current = replaced.isEmpty() ? fp : fp.withWeights(replaced);
        current.embed(sentences, (name, x, tokens, cols) -> {
            int group = names.indexOf(name);
            if (group >= 0) {
                sink.input(group, x, tokens);
            }
        });
        sink.quantize().forEach((linear, wq) -> replaced.put(MiniLm.linearName(b, linear), wq));
    }

    /** The dequantized weights of every linear quantized so far, by stable name, in quantization order. */
    public Map<String, float[]> replaced() {
        return Collections.unmodifiableMap(replaced);
    }
}
