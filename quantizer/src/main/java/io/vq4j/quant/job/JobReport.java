package io.vq4j.quant.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.pack.PackedLayers;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.quant.calib.CalibratedLayer;
import io.vq4j.quant.job.QuantizeJob.LayerReport;
import io.vq4j.quant.job.QuantizeJob.Options;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What a quantize run reports: a {@link LayerReport} per layer (logged as it is quantized, kept
 * in the checkpoint record, so a resumed run reports the layers of the first one too) and, at
 * the end, quantize-report.json and quantize-report.md with the totals. The bytes of a layer
 * are counted in the packed file: its tensors' data and its layout record.
 */
final class JobReport {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JobReport() {
    }

    /** The report line of a layer calibration quantized, whose file form is {@code p} (the bytes counted). */
    static LayerReport of(CalibratedLayer l, PackedLayers.Packed p) {
        PackedMatrix q = l.packed();
        long bytes = p.bytes();
        return new LayerReport(l.name(), q.rows(), q.cols(), q.method(), PackedLayers.nominalBitsPerWeight(q),
                bytes * 8.0 / q.weights(), bytes, l.hessianError(), l.relativeError(), l.seconds());
    }

    /** A layer's bytes in the packed file: its tensors' data and its layout record. */
    static long layerBytes(String name, PackedMatrix q) {
        return PackedLayers.pack(name, q).bytes();
    }

    static ArrayNode layersJson(List<LayerReport> reports) {
        ArrayNode a = JSON.createArrayNode();
        for (LayerReport r : reports) {
            ObjectNode o = a.addObject();
            o.put("name", r.name());
            o.put("rows", r.rows());
            o.put("cols", r.cols());
            o.put("method", r.method());
            o.put("nominal_bits_per_weight", r.nominalBitsPerWeight());
            o.put("true_bits_per_weight", r.trueBitsPerWeight());
            o.put("bytes", r.bytes());
            o.put("hessian_error", r.hessianError());
            o.put("relative_error", r.relativeError());
            o.put("seconds", r.seconds());
        }
        return a;
    }

    static List<LayerReport> readLayers(JsonNode a) {
        List<LayerReport> out = new ArrayList<>();
        for (JsonNode r : a) {
            out.add(new LayerReport(r.path("name").asText(), r.path("rows").asInt(), r.path("cols").asInt(),
                    r.path("method").asText(), r.path("nominal_bits_per_weight").asDouble(),
                    r.path("true_bits_per_weight").asDouble(), r.path("bytes").asLong(),
                    r.path("hessian_error").asDouble(), r.path("relative_error").asDouble(),
                    r.path("seconds").asDouble()));
        }
        return out;
    }

    /** The layers' own bytes plus the codebooks they share (stored once). */
    private static long bytes(List<LayerReport> reports, long sharedBytes) {
        return reports.stream().mapToLong(LayerReport::bytes).sum() + sharedBytes;
    }

    private static long weights(List<LayerReport> reports) {
        return reports.stream().mapToLong(r -> (long) r.rows() * r.cols()).sum();
    }

    /** quantize-report.json. */
    static ObjectNode json(Options o, String fingerprint, List<LayerReport> reports, int n, int len, long sharedBytes) {
        ObjectNode report = JSON.createObjectNode();
        report.put("fingerprint", fingerprint);
        report.put("method", o.spec().method());
        report.set("spec", JSON.valueToTree(o.spec()));
        report.put("calib_samples", n);
        report.put("calib_len", len);
        report.put("seed", o.seed());
        long bytes = bytes(reports, sharedBytes);
        long weights = weights(reports);
        report.put("shared_codebook_bytes", sharedBytes);
        report.put("layers_true_bits_per_weight", bytes * 8.0 / weights);
        report.put("layers_nominal_bits_per_weight",
                reports.stream().mapToDouble(r -> r.nominalBitsPerWeight() * r.rows() * r.cols()).sum() / weights);
        report.set("layers", layersJson(reports));
        return report;
    }

    /**
     * quantize-report.md of a --target-bpw run: the plan's totals and its choice per layer
     * (configuration, bytes, predicted loss) after the report of one spec.
     */
    static String planMarkdown(String md, JsonNode plan) {
        StringBuilder sb = new StringBuilder(md);
        sb.append(String.format(Locale.ROOT, "%n## --target-bpw %s%n%n", plan.path("target_bpw").asText()));
        sb.append(String.format(Locale.ROOT, "- budget: %,d bytes (%s bits/weight × %,d quantized weights / 8, rounded"
                        + " down); every byte of the safetensors files but the unquantized tensors' data counts,"
                        + " as in vq inspect%n", plan.path("budget_bytes").asLong(), plan.path("target_bpw").asText(),
                plan.path("quantized_weights").asLong()));
        sb.append(String.format(Locale.ROOT, "- chosen: %,d bytes = %,d of the layers (tensors and layout records) +"
                        + " %,d of the files (headers, tensor entries, padding) → true %.4f bits/weight%n",
                plan.path("predicted_bytes").asLong(), plan.path("layer_bytes").asLong(),
                plan.path("overhead_bytes").asLong(), plan.path("predicted_true_bits_per_weight").asDouble()));
        sb.append(String.format(Locale.ROOT, "- predicted loss (%s): %.6g%n", plan.path("proxy").asText(),
                plan.path("predicted_loss").asDouble()));
        sb.append("- candidates:");
        int i = 0;
        for (JsonNode c : plan.path("candidates")) {
            sb.append(i++ == 0 ? " " : "; ").append('[').append(i - 1).append("] `").append(c.asText()).append('`');
        }
        sb.append("\n\n| layer | choice | bytes | true bpw | predicted loss |\n|---|---|---:|---:|---:|\n");
        for (JsonNode l : plan.path("layers")) {
            sb.append(String.format(Locale.ROOT, "| %s | [%d] %s | %,d | %.3f | %.4g |%n", l.path("name").asText(),
                    l.path("candidate").asInt(), l.path("config").asText(), l.path("bytes").asLong(),
                    l.path("bytes").asLong() * 8.0 / l.path("weights").asLong(), l.path("predicted_loss").asDouble()));
        }
        return sb.toString();
    }

    /** quantize-report.md. */
    static String markdown(Options o, List<LayerReport> reports, long sharedBytes) {
        long bytes = bytes(reports, sharedBytes);
        long weights = weights(reports);
        StringBuilder sb = new StringBuilder();
        sb.append("# vq quantize report\n\n");
        sb.append("- model: `").append(o.model()).append("`\n");
        sb.append("- method: `").append(o.spec().method()).append("`\n");
        sb.append("- spec: `").append(o.spec()).append("`\n");
        sb.append(String.format(Locale.ROOT,
                "- quantized layers: %d, %,d weights, %,d bytes, true %.4f bits/weight%n%n", reports.size(), weights,
                bytes, bytes * 8.0 / weights));
        if (sharedBytes > 0) {
            sb.setLength(sb.length() - 1);
            sb.append(String.format(Locale.ROOT, "- of which shared codebooks (--share-codebooks %s, stored once): %,d"
                    + " bytes; the per-layer rows below count each layer's own tensors only%n%n",
                    o.spec().shareCodebooks(), sharedBytes));
        }
        sb.append("| layer | shape | method | nominal bpw | true bpw | H-weighted error | relative | seconds |\n");
        sb.append("|---|---|---|---:|---:|---:|---:|---:|\n");
        for (LayerReport r : reports) {
            sb.append(String.format(Locale.ROOT, "| %s | %dx%d | %s | %.3f | %.3f | %.4g | %.4g | %.2f |%n", r.name(),
                    r.rows(), r.cols(), r.method(), r.nominalBitsPerWeight(), r.trueBitsPerWeight(), r.hessianError(),
                    r.relativeError(), r.seconds()));
        }
        return sb.toString();
    }
}
