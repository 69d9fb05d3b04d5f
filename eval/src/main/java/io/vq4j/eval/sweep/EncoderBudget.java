package io.vq4j.eval.sweep;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.Backend;
import io.vq4j.model.minilm.MiniLm;
import io.vq4j.pack.PackedLayers;
import io.vq4j.quant.budget.BudgetJob;
import io.vq4j.quant.budget.Candidate;
import io.vq4j.quant.budget.Sensitivity;
import io.vq4j.quant.calib.EncoderTarget;
import io.vq4j.quant.job.LayerPlan;
import io.vq4j.quant.method.QuantSpec;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * A --target-bpw row of the encoder sweep: every candidate measured on every linear of the
 * unquantized encoder ({@link Sensitivity}, the same H-weighted error as `vq quantize
 * --target-bpw`), the choice made by {@link BudgetJob#plan} on the exact bytes of the sweep's
 * layers.safetensors (the chosen layers written in calibration order, as {@link EncoderSweep}
 * writes them, data not written), then quantized block-sequentially with that plan. The
 * measurement is made once per sweep with its first seed; each seed's row quantizes with its own.
 */
final class EncoderBudget {
    /** Calibration sentences the stacked probe embeds. */
    static final int PROBE_SENTENCES = 16;
    private EncoderBudget() {
    }

    /**
     * @param measureSeed the seed of the measuring pass (the sweep's first seed: every seed's row shares it)
     * @param measured    the measurements of this sweep so far, by {@link BudgetJob#cacheKey}
     */
    static LayerPlan plan(MiniLm fp, List<String> calib, SweepSpec.Config cfg, Backend backend,
                          long measureSeed, Map<String, List<Sensitivity.Layer>> measured, Consumer<String> info) {
        List<Candidate> cands = cfg.candidates();
        List<Sensitivity.Layer> layers = measured.computeIfAbsent(BudgetJob.cacheKey(measureSeed, cands), k -> {
            info.accept(cfg.name() + ": measuring " + cands.size() + " candidates on every layer (seed " + measureSeed
                    + ")");
            return Sensitivity.measure(new EncoderTarget(fp, calib), cands, cfg.spec(), backend, measureSeed);
        });
        String proxy = BudgetJob.PROXY;
        if (BudgetJob.Proxy.parse(cfg.sensitivity()) == BudgetJob.Proxy.STACKED) {
            List<String> probe = calib.subList(0, Math.min(calib.size(), PROBE_SENTENCES));
            float[][] reference = fp.embed(probe);
            proxy = "stacked: mean 1 - cosine of the sentence embeddings of " + probe.size() + " calibration sentences"
                    + " to the fp32 model's, the encoder with only this layer quantized";
            List<Sensitivity.Layer> raw = layers;
            layers = measured.computeIfAbsent(BudgetJob.cacheKey(measureSeed, cands) + ":stacked", k -> {
                info.accept(cfg.name() + ": the stacked effect of every candidate on every layer");
                return Sensitivity.stacked(raw, (name, w) -> {
                        float[][] q = fp.withWeights(Map.of(name, w)).embed(probe);
                        double s = 0;
                        for (int i = 0; i < q.length; i++) {
                            s += 1 - EncoderSweep.cosine(reference[i], q[i]);
                        }
                        return s / q.length;
                    });
            });
        }
        List<Sensitivity.Layer> chosen = layers;
        ObjectNode record = BudgetJob.plan(chosen, cfg.targetBpw(), cands, pick -> fileBytes(chosen, pick), proxy);
        record.put("sensitivity", cfg.sensitivity());
        Map<String, QuantSpec> specs = new LinkedHashMap<>();
        for (int i = 0; i < layers.size(); i++) {
            specs.put(layers.get(i).name(), cands.get(record.path("layers").get(i).path("candidate").asInt()).spec());
        }
        return new LayerPlan(specs, record);
    }

    /** The bytes of layers.safetensors holding each layer's chosen packed form. */
    static long fileBytes(List<Sensitivity.Layer> layers, int[] pick) {
        SafeTensorsWriter w = new SafeTensorsWriter();
        w.metadata("format", "pt");
        for (int i = 0; i < layers.size(); i++) {
            PackedLayers.write(layers.get(i).name(), layers.get(i).packed()[pick[i]], w);
        }
        return w.fileBytes();
    }
}
