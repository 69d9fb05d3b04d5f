package io.vq4j.export.vptq;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.LlamaConfig;
import io.vq4j.pack.PackedDirectoryReader;
import io.vq4j.pack.PackedStats;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A packed vq4j directory ({@code vq quantize --method vptq}) as a VPTQ checkpoint directory
 * (transformers' {@code quant_method: "vptq"}, the VPTQ-community layout): config.json with
 * {@code quantization_config.config_for_layers}, model.safetensors with every quantized linear
 * as {@link VptqLayer} maps it and every other tensor (embedding, norms, head, any linear the
 * source keeps dense) as the source stores it, and the tokenizer files copied. Written under a
 * temporary name and renamed ({@link HfCheckpoints#writeTensors}); a layer the format cannot
 * express is refused before anything is written. Same source, same bytes.
 */
public final class VptqExport {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] TOKENIZER = {"tokenizer.json", "tokenizer_config.json", "tokenizer.model",
            "special_tokens_map.json", "tokenizer.bin"};

    /** What was written: the directory, the layers in VPTQ form and the tensors copied as they were. */
    public record Result(Path dir, int vptqLayers, int copied) {
    }

    private VptqExport() {
    }

    public static Result write(Path packed, Path out) throws IOException {
        return write(packed, out, null);
    }

    /** As {@link #write(Path, Path)}, also copying {@code tokenizer} (a file, or null) under its own name. */
    public static Result write(Path packed, Path out, Path tokenizer) throws IOException {
        if (!Files.isDirectory(packed) || !PackedStats.isPacked(packed)) {
            throw InputException.at(packed, "is not a packed vq4j directory (vq quantize --method vptq writes one)");
        }
        LlamaConfig c = HfCheckpoints.readConfig(packed);
        List<VptqLayer.Encoded> layers = new ArrayList<>();
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
        int copied = 0;
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(packed)) {
            PackedDirectoryReader reader = new PackedDirectoryReader();
            List<String> dense = new ArrayList<>();
            List<String> linears = new ArrayList<>();
            for (int i = 0; i < c.nLayers(); i++) {
                for (String l : new String[]{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                        "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
                    linears.add("model.layers." + i + "." + l);
                }
            }
            linears.add("lm_head");
            for (String name : linears) {
                int[] shape = shapeOf(c, name);
                if (st.contains(name + ".weight") || (name.equals("lm_head") && c.tieWordEmbeddings())) {
                    continue;
                }
                PackedMatrix m = reader.read(st, name, shape[0], shape[1]);
                if (m == null) {
                    throw InputException.at(packed, "layer '" + name + "' is neither dense nor packed");
                }
                try {
                    layers.add(VptqLayer.encode(name, m));
                } catch (IllegalArgumentException e) {
                    throw InputException.at(packed, e.getMessage());
                }
            }
            for (String t : st.names()) {
                if (t.startsWith("vq4j.") || layers.stream().anyMatch(l -> t.startsWith(l.name() + "."))) {
                    continue;
                }
                dense.add(t);
            }
            dense.sort(String::compareTo);
            for (String t : dense) {
                SafeTensorsFile f = st.fileOf(t);
                SafeTensorsFile.TensorInfo info = f.info(t);
                w.addBytes(t, info.dtype(), info.shape(), f.data(t).toArray(ValueLayout.JAVA_BYTE));
                copied++;
            }
            for (VptqLayer.Encoded l : layers) {
                l.addTo(w);
            }
        }
        ObjectNode qc = JSON.createObjectNode();
        qc.put("quant_method", "vptq");
        qc.put("enable_proxy_error", false);
        ObjectNode cfl = qc.putObject("config_for_layers");
        for (VptqLayer.Encoded l : layers) {
            cfl.set(l.name(), l.config());
        }
        qc.putObject("shared_layer_config");
        ObjectNode config = HfCheckpoints.configJson(c, DType.F16);
        config.set("quantization_config", qc);
        writeDirectory(packed, tokenizer, out, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config) + "\n", w);
        return new Result(out, layers.size(), copied);
    }

    /** config.json, model.safetensors and the tokenizer into a temporary directory beside {@code out}, then renamed. */
    private static void writeDirectory(Path packed, Path tokenizer, Path out, String config, SafeTensorsWriter w) throws IOException {
        Path target = out.toAbsolutePath().normalize();
        if (Files.exists(target) && !Files.isDirectory(target)) {
            throw InputException.at(target, "exists and is not a directory; choose a new OUT_DIR");
        }
        if (Files.exists(target)) {
            try (Stream<Path> s = Files.list(target)) {
                if (s.findAny().isPresent()) {
                    throw InputException.at(target, "exists and is not empty; choose a new OUT_DIR");
                }
            }
        }
        AtomicFiles.removeTemporaryDirs(target);
        Path tmp = AtomicFiles.tempDirBeside(target);
        try {
            Files.writeString(tmp.resolve("config.json"), config);
            w.write(tmp.resolve(SafeTensorsDirectory.SINGLE));
            for (String f : TOKENIZER) {
                Path p = packed.resolve(f);
                if (Files.isRegularFile(p)) {
                    Files.copy(p, tmp.resolve(f));
                }
            }
            if (tokenizer != null && !Files.exists(tmp.resolve(tokenizer.getFileName().toString()))) {
                Files.copy(tokenizer, tmp.resolve(tokenizer.getFileName().toString()));
            }
            Files.deleteIfExists(target);
            AtomicFiles.commit(tmp, target);
        } catch (IOException | RuntimeException e) {
            try (Stream<Path> s = Files.walk(tmp)) {
                for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(q);
                }
            }
            throw e;
        }
    }

    private static int[] shapeOf(LlamaConfig c, String name) {
        if (name.equals("lm_head")) {
            return new int[]{c.vocabSize(), c.dim()};
        }
        String l = name.substring(name.indexOf('.', "model.layers.".length()) + 1);
        return switch (l) {
            case "self_attn.q_proj" -> new int[]{c.qDim(), c.dim()};
            case "self_attn.k_proj", "self_attn.v_proj" -> new int[]{c.kvDim(), c.dim()};
            case "self_attn.o_proj" -> new int[]{c.dim(), c.qDim()};
            case "mlp.gate_proj", "mlp.up_proj" -> new int[]{c.hiddenDim(), c.dim()};
            case "mlp.down_proj" -> new int[]{c.dim(), c.hiddenDim()};
            default -> throw new IllegalArgumentException(name);
        };
    }
}
