package io.vq4j.export.gptq;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.pack.PackedLayers;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A packed vq4j model of scalar layers ({@code --method gptq} or {@code rtn}) as a GPTQ
 * checkpoint directory ({@code quant_method: "gptq"}, the layout AutoGPTQ / GPTQModel write and
 * transformers, vLLM, SGLang and ExLlamaV2 load; see {@link GptqLayer}): model.safetensors,
 * config.json with {@code quantization_config}, quantize_config.json, the tokenizer files.
 * The mapping is exact (vq4j's scales are fp16 values, its zero points integers). The
 * unquantized tensors are copied as the source stores them; a scalar layer whose shape the
 * int32 packing cannot hold (in or out features not a multiple of 32, or a group size that does
 * not divide the row) is written as a dense fp32 {@code .weight} (its decoded values, exactly)
 * and listed in {@code dynamic} as a module not to quantize ("-:" rule, GPTQModel's syntax).
 * A layout the format cannot express (vector codebooks, per-column norms, mixed bits, groups or
 * symmetry, a zero point of 0 in format v1) is refused before anything is written.
 */
public final class GptqExport {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Tokenizer and generation files copied as they are. */
    static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json", "tokenizer.model",
            "special_tokens_map.json", "generation_config.json");

    private GptqExport() {
    }

    /** Checkpoint format v1 ("gptq": qzeros hold zero − 1) or v2 ("gptq_v2", GPTQModel: the zero itself). */
    public enum Format {
        V1("gptq"), V2("gptq_v2");

        private final String key;

        Format(String key) {
            this.key = key;
        }

        public String key() {
            return key;
        }

        public static Format byKey(String key) {
            for (Format f : values()) {
                if (f.key.equals(key)) {
                    return f;
                }
            }
            return null;
        }
    }

    /** @param dense the layers written as dense fp32 weights, with why */
    public record Result(Path dir, int bits, int groupSize, boolean symmetric, boolean descAct, Format format,
                         List<String> quantized, List<String> dense, long bytes) {
    }

    public static Result write(Path packed, Path out, Format format) {
        Path configFile = packed.resolve("config.json");
        if (!Files.isDirectory(packed) || !Files.isRegularFile(configFile)) {
            throw InputException.at(packed, "is not a packed vq4j model directory (no config.json)");
        }
        ObjectNode config = readConfig(configFile);
        JsonNode qc = config.get("quantization_config");
        if (qc == null || !"vq4j".equals(qc.path("quant_method").asText())) {
            throw InputException.at(configFile, "has no vq4j quantization_config: --format gptq exports a packed model"
                    + " made by vq quantize --method gptq or rtn");
        }
        if (Files.exists(out) && !isEmptyDir(out)) {
            throw InputException.at(out, "exists; the export writes a new directory");
        }
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(packed)) {
            TreeMap<String, PackedMatrix> layers = new TreeMap<>();
            TreeMap<String, Path> fileOf = new TreeMap<>();
            for (SafeTensorsFile f : st.files()) {
                f.metadata().forEach((k, v) -> {
                    if (k.startsWith(PackedLayers.META_PREFIX)) {
                        String name = k.substring(PackedLayers.META_PREFIX.length());
                        try {
                            layers.put(name, PackedLayers.read(name, v, PackedLayers.TensorSource.of(st), true));
                        } catch (IllegalArgumentException e) {
                            throw InputException.at(f.path(), e.getMessage());
                        }
                        fileOf.put(name, f.path());
                    }
                });
            }
            if (layers.isEmpty()) {
                throw InputException.at(packed, "holds no packed layers");
            }
            Plan plan = plan(layers, fileOf, format);
            Set<String> layerTensors = new HashSet<>();
            layers.forEach((name, m) -> PackedLayers.parts(name, m).forEach(p -> layerTensors.add(p.name())));
            TreeSet<String> names = new TreeSet<>();
            st.names().forEach(names::add);
            for (String n : names) {
                if (n.startsWith(PackedLayers.SHARED_PREFIX)) {
                    throw InputException.at(packed, "holds shared codebooks (" + n + "), which the GPTQ format cannot hold");
                }
            }
            SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
            TreeMap<String, Runnable> adds = new TreeMap<>();
            for (String n : names) {
                if (!layerTensors.contains(n)) {
                    SafeTensorsFile.TensorInfo t = st.info(n);
                    adds.put(n, () -> w.addSegment(n, t.dtype(), t.shape(), st.data(n)));
                }
            }
            plan.gptq.forEach((name, l) -> {
                adds.put(name + ".qweight", () -> w.addBytes(name + ".qweight", DType.I32,
                        new long[]{l.in() * l.bits() / 32, l.out()}, ints(l.qweight())));
                adds.put(name + ".qzeros", () -> w.addBytes(name + ".qzeros", DType.I32,
                        new long[]{l.groups(), l.out() * l.bits() / 32}, ints(l.qzeros(format == Format.V1))));
                adds.put(name + ".scales", () -> w.addFloats(name + ".scales", DType.F16,
                        new long[]{l.groups(), l.out()}, l.scales()));
                adds.put(name + ".g_idx", () -> w.addBytes(name + ".g_idx", DType.I32, new long[]{l.in()},
                        ints(l.gIdx())));
            });
            plan.dense.forEach((name, m) -> adds.put(name + ".weight", () -> w.addFloats(name + ".weight", DType.F32,
                    new long[]{m.rows(), m.cols()}, m.dequantize())));
            adds.values().forEach(Runnable::run);

            ObjectNode gq = quantizationConfig(plan, qc, format);
            config.set("quantization_config", gq);
            try {
                AtomicFiles.removeTemporaryDirs(out); // what a killed export into it left
                Path tmp = AtomicFiles.tempDirBeside(out);
                try {
                    w.write(tmp.resolve(SafeTensorsDirectory.SINGLE));
                    Files.writeString(tmp.resolve("config.json"), pretty(config) + "\n");
                    Files.writeString(tmp.resolve("quantize_config.json"), pretty(gq) + "\n");
                    for (String t : TOKENIZER_FILES) {
                        if (Files.isRegularFile(packed.resolve(t))) {
                            Files.copy(packed.resolve(t), tmp.resolve(t));
                        }
                    }
                    if (Files.isDirectory(out)) {
                        Files.delete(out); // empty, checked above
                    }
                    AtomicFiles.commit(tmp, out);
                } finally {
                    if (Files.exists(tmp)) {
                        try (var s = Files.list(tmp)) {
                            for (Path p : s.toList()) {
                                Files.deleteIfExists(p);
                            }
                        }
                        Files.deleteIfExists(tmp);
                    }
                }
                long bytes = Files.size(out.resolve(SafeTensorsDirectory.SINGLE));
                return new Result(out, plan.bits, plan.groupSize, plan.symmetric, plan.descAct, format,
                        List.copyOf(plan.gptq.keySet()), List.copyOf(plan.denseWhy), bytes);
            } catch (IOException e) {
                throw InputException.io(e);
            }
        }
    }

    /** What goes where, checked whole before anything is written. */
    private record Plan(TreeMap<String, GptqLayer> gptq, TreeMap<String, PackedMatrix> dense, List<String> denseWhy,
                        int bits, int groupSize, boolean symmetric, boolean descAct, Set<String> methods) {
    }

    private static Plan plan(TreeMap<String, PackedMatrix> layers, TreeMap<String, Path> fileOf, Format format) {
        TreeMap<String, GptqLayer> gptq = new TreeMap<>();
        TreeMap<String, PackedMatrix> dense = new TreeMap<>();
        List<String> denseWhy = new ArrayList<>();
        int bits = -1;
        int group = 0; // 0: every packed layer so far has whole-row groups
        Boolean sym = null;
        boolean descAct = false;
        Set<String> methods = new TreeSet<>();
        for (var e : layers.entrySet()) {
            String name = e.getKey();
            PackedMatrix m = e.getValue();
            Path file = fileOf.get(name);
            if (m.segmentCount() != 1 || !(m.segments().getFirst() instanceof Segment.Scalar s)) {
                throw InputException.at(file, "layer '" + name + "' is " + m.method() + " (vector codes or several"
                        + " segments); the GPTQ format holds one scalar grid per layer (--method gptq or rtn)");
            }
            if (bits >= 0 && s.bits() != bits || sym != null && s.symmetric() != sym) {
                throw InputException.at(file, "layer '" + name + "' has " + s.bits() + " bits, "
                        + (s.symmetric() ? "symmetric" : "asymmetric") + " but an earlier layer " + bits + " bits, "
                        + (sym ? "symmetric" : "asymmetric") + "; a GPTQ checkpoint has one setting for all layers");
            }
            bits = s.bits();
            sym = s.symmetric();
            methods.add(m.method());
            String why = GptqLayer.unpackable(bits, m.cols(), m.rows());
            if (why != null && why.startsWith(bits + "-bit")) {
                throw InputException.at(file, "layer '" + name + "' has " + why);
            }
            boolean wholeRow = s.groupSize() >= m.cols();
            if (why == null && !wholeRow && m.cols() % s.groupSize() != 0) {
                why = "group size " + s.groupSize() + " that does not divide its " + m.cols() + " columns";
            }
            if (why != null) {
                dense.put(name, m);
                denseWhy.add(name + ": " + why);
                continue;
            }
            if (!wholeRow) {
                if (group != 0 && group != s.groupSize()) {
                    throw InputException.at(file, "layer '" + name + "' has groups of " + s.groupSize()
                            + " but an earlier layer " + group + "; a GPTQ checkpoint has one group_size");
                }
                group = s.groupSize();
            }
            GptqLayer l;
            try {
                l = GptqLayer.of(m);
            } catch (IllegalArgumentException ex) {
                throw InputException.at(file, "layer '" + name + "' " + ex.getMessage());
            }
            if (format == Format.V1 && !s.symmetric()) {
                for (int i = 0; i < l.zeros().length; i++) {
                    if (l.zeros()[i] == 0) {
                        throw InputException.at(file, "layer '" + name + "' has a zero point of 0 (group "
                                + i / l.out() + ", output " + i % l.out() + "), which checkpoint format gptq (v1, zero"
                                + " − 1 stored) cannot hold; use --checkpoint-format gptq_v2 or a symmetric grid");
                    }
                }
            }
            descAct |= m.perm() != null;
            gptq.put(name, l);
        }
        if (gptq.isEmpty()) {
            throw new InputException("no layer can be stored in the GPTQ format: " + String.join("; ", denseWhy));
        }
        // a whole-row layer among grouped ones would need group_size = its row: refuse rather than mislabel it
        if (group != 0) {
            for (var e : gptq.entrySet()) {
                if (e.getValue().groups() == 1 && e.getValue().in() != group) {
                    throw InputException.at(fileOf.get(e.getKey()), "layer '" + e.getKey() + "' has one group per row"
                            + " but others groups of " + group + "; a GPTQ checkpoint has one group_size");
                }
            }
        }
        return new Plan(gptq, dense, denseWhy, bits, group == 0 ? -1 : group, sym, descAct, methods);
    }

    private static ObjectNode quantizationConfig(Plan p, JsonNode vq4j, Format format) {
        ObjectNode o = JSON.createObjectNode();
        o.put("quant_method", "gptq");
        o.put("bits", p.bits);
        o.put("group_size", p.groupSize);
        o.put("desc_act", p.descAct);
        o.put("sym", p.symmetric);
        o.put("damp_percent", vq4j.path("spec").path("percdamp").asDouble(0.01));
        o.put("true_sequential", true);
        o.put("static_groups", false);
        o.put("lm_head", p.gptq.containsKey("lm_head"));
        o.put("checkpoint_format", format.key());
        o.put("pack_dtype", "int32");
        if (!p.dense.isEmpty()) {
            ObjectNode dyn = o.putObject("dynamic");
            for (String name : p.dense.keySet()) {
                dyn.putObject("-:^" + name.replace(".", "\\.") + "$");
            }
        }
        ObjectNode meta = o.putObject("meta");
        meta.put("quantizer", "vq4j");
        meta.put("vq4j_method", String.join(",", p.methods));
        return o;
    }

    private static ObjectNode readConfig(Path file) {
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (!(n instanceof ObjectNode o)) {
                throw InputException.at(file, "is not a JSON object");
            }
            return o;
        } catch (IOException e) {
            throw InputException.at(file, "cannot be read as JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    private static String pretty(JsonNode n) {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static boolean isEmptyDir(Path p) {
        if (!Files.isDirectory(p)) {
            return false;
        }
        try (var s = Files.list(p)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            throw InputException.io(e);
        }
    }

    static byte[] ints(int[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(v);
        return b.array();
    }
}
