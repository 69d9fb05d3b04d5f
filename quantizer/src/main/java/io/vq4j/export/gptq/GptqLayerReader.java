package io.vq4j.export.gptq;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.model.PackedLayerReader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * GPTQ checkpoints ({@code quant_method: "gptq"} in config.json's quantization_config, as
 * AutoGPTQ / GPTQModel / vq export --format gptq write them) as the model loader sees them: a
 * layer stored as {@code qweight/qzeros/scales/g_idx} is checked against config.json and the
 * shape the config implies, and decoded ({@link GptqLayer#dequantize}, fp32, exact) into a dense
 * layer. Registered for {@link java.util.ServiceLoader} in META-INF/services.
 */
public final class GptqLayerReader implements PackedLayerReader {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The settings of quantization_config that decoding needs. */
    record Config(int bits, int groupSize, boolean symmetric, boolean descAct, boolean v1) {
    }

    @Override
    public PackedMatrix read(SafeTensorsDirectory st, String name, int rows, int cols) {
        String qw = name + ".qweight";
        if (!st.contains(qw)) {
            // qzeros / g_idx are GPTQ's own names (a vq4j packed layer has scales too, never these)
            for (String part : new String[] {".qzeros", ".g_idx"}) {
                if (st.contains(name + part) && !st.contains(name + ".weight")) {
                    throw InputException.at(st.fileOf(name + part).path(), "GPTQ tensor '" + qw + "' is missing"
                            + " (the layer has " + name + part + ")");
                }
            }
            return null;
        }
        SafeTensorsFile f = st.fileOf(qw);
        Config c = config(f.path().toAbsolutePath().getParent().resolve("config.json"));
        GptqLayer l = layer(st, name, rows, cols, c);
        float[] w = l.dequantize();
        return PackedMatrix.builder(rows, cols).method("gptq-checkpoint").dense(0, cols, w, false).build();
    }

    /** The layer's tensors, every shape, dtype and range checked; errors name the file and tensor. */
    static GptqLayer layer(SafeTensorsDirectory st, String name, int rows, int cols, Config c) {
        int bits = c.bits();
        String why = GptqLayer.unpackable(bits, cols, rows);
        if (why != null) {
            throw InputException.at(st.fileOf(name + ".qweight").path(), "layer '" + name + "' has " + why);
        }
        int groups = c.groupSize() <= 0 ? 1 : (cols + c.groupSize() - 1) / c.groupSize();
        int[] qweight = ints(st, name + ".qweight", cols * bits / 32, rows);
        int[] qzeros = ints(st, name + ".qzeros", groups, rows * bits / 32);
        String sc = name + ".scales";
        check(st, sc, tensor(st, sc).info(sc).dtype().isFloating(), "is not a float tensor");
        checkShape(st, sc, groups, rows);
        float[] scales = tensor(st, sc).floats(sc); // refuses NaN / ±inf, naming the element
        String gi = name + ".g_idx";
        int[] gIdx;
        if (st.contains(gi)) {
            gIdx = ints(st, gi, cols);
            for (int i = 0; i < cols; i++) {
                if (gIdx[i] < 0 || gIdx[i] >= groups) {
                    throw InputException.at(st.fileOf(gi).path(), "tensor '" + gi + "' element " + i + " = " + gIdx[i]
                            + " is not a group in [0, " + groups + ")");
                }
            }
        } else if (c.descAct()) {
            throw InputException.at(st.fileOf(name + ".qweight").path(), "GPTQ tensor '" + gi + "' is missing but"
                    + " the quantization config says desc_act: the order of the input features is unknown");
        } else {
            gIdx = new int[cols];
            for (int i = 0; i < cols; i++) {
                gIdx[i] = c.groupSize() <= 0 ? 0 : i / c.groupSize();
            }
        }
        GptqLayer l = GptqLayer.fromTensors(bits, cols, rows, groups, qweight, qzeros, scales, gIdx, c.v1());
        if (c.symmetric()) {
            int mid = 1 << (bits - 1);
            for (int i = 0; i < l.zeros().length; i++) {
                if (l.zeros()[i] != mid) {
                    throw InputException.at(st.fileOf(name + ".qzeros").path(), "tensor '" + name + ".qzeros' holds"
                            + " zero point " + l.zeros()[i] + " (group " + i / rows + ", output " + i % rows + ") but"
                            + " config.json says sym with " + bits + " bits (zero " + mid + ", checkpoint_format "
                            + (c.v1() ? "gptq" : "gptq_v2") + ")");
                }
            }
        }
        return l;
    }

    /**
     * The decoding settings: config.json's quantization_config, or (AutoGPTQ's older checkpoints
     * have none) quantize_config.json beside it; when both exist they must agree on what decoding
     * reads. Refused, one line each: bits other than 2/3/4/8, group_size not −1 or positive, a
     * checkpoint_format (or GPTQModel's older key "format") other than gptq / gptq_v2, a pack_dtype
     * other than int32, and per-module overrides in "dynamic" (only "-:" exclusions are read).
     */
    static Config config(Path file) {
        Path qcFile = file.resolveSibling("quantize_config.json");
        JsonNode root = readJson(file);
        JsonNode q = root == null ? null : root.get("quantization_config");
        JsonNode side = Files.isRegularFile(qcFile) ? readJson(qcFile) : null;
        if (q == null && side == null) {
            throw InputException.at(file, "has no quantization_config and there is no quantize_config.json beside"
                    + " it, but the checkpoint holds GPTQ tensors (qweight)");
        }
        if (q != null && (!q.isObject() || !"gptq".equals(q.path("quant_method").asText()))) {
            throw InputException.at(file, "has quantization_config.quant_method " + q.get("quant_method")
                    + ", but the checkpoint holds GPTQ tensors (qweight): expected \"gptq\"");
        }
        Config primary = q == null ? null : parse(file, "quantization_config.", q);
        if (side == null) {
            return primary;
        }
        if (!side.isObject() || side.has("quant_method") && !"gptq".equals(side.path("quant_method").asText())) {
            throw InputException.at(qcFile, "is not a GPTQ quantize_config (quant_method " + side.get("quant_method")
                    + ")");
        }
        Config fromSide = parse(qcFile, "", side);
        if (q == null) {
            return fromSide;
        }
        // both: every setting decoding reads that both state must agree; one stated once is taken
        for (String k : new String[] {"bits", "group_size", "sym", "desc_act", "checkpoint_format", "format"}) {
            if (q.has(k) && side.has(k) && !q.get(k).equals(side.get(k))) {
                throw InputException.at(qcFile, "says " + k + " " + side.get(k) + " but config.json's"
                        + " quantization_config says " + q.get(k));
            }
        }
        ObjectNode merged = ((ObjectNode) side).deepCopy();
        merged.setAll((ObjectNode) q);
        return parse(file, "quantization_config.", merged);
    }

    private static JsonNode readJson(Path file) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw InputException.at(file, "cannot be read as JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    private static Config parse(Path file, String prefix, JsonNode q) {
        JsonNode b = q.get("bits");
        if (b == null || !b.isIntegralNumber() || GptqLayer.unpackable(b.asInt(), 32, 32) != null) {
            throw InputException.at(file, prefix + "bits must be 2, 3, 4 or 8, got " + b);
        }
        JsonNode g = q.get("group_size");
        if (g == null || !g.isIntegralNumber() || g.asInt() == 0 || g.asInt() < -1) {
            throw InputException.at(file, prefix + "group_size must be -1 or a positive integer, got " + g);
        }
        JsonNode cf = q.has("checkpoint_format") ? q.get("checkpoint_format") : q.get("format");
        String fmt = cf == null || cf.isNull() ? "gptq" : cf.isTextual() ? cf.asText() : cf.toString();
        if (!fmt.equals("gptq") && !fmt.equals("gptq_v2")) {
            throw InputException.at(file, prefix + (q.has("checkpoint_format") || cf == null ? "checkpoint_format"
                    : "format") + " must be gptq or gptq_v2, got " + fmt);
        }
        JsonNode pd = q.get("pack_dtype");
        if (pd != null && !pd.isNull() && !"int32".equals(pd.asText())) {
            throw InputException.at(file, prefix + "pack_dtype is " + pd + "; vq4j reads int32-packed GPTQ tensors only");
        }
        JsonNode sym = q.get("sym");
        if (sym != null && !sym.isBoolean()) {
            throw InputException.at(file, prefix + "sym must be true or false, got " + sym);
        }
        JsonNode da = q.get("desc_act");
        if (da != null && !da.isBoolean()) {
            throw InputException.at(file, prefix + "desc_act must be true or false, got " + da);
        }
        JsonNode dyn = q.get("dynamic");
        if (dyn != null && dyn.isObject()) {
            for (var it = dyn.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!k.startsWith("-:")) {
                    throw InputException.at(file, prefix + "dynamic has the per-module override '" + k + "'; vq4j"
                            + " reads one bits/group_size for every layer (only \"-:\" exclusions)");
                }
            }
        }
        return new Config(b.asInt(), g.asInt(), sym != null && sym.asBoolean(), da != null && da.asBoolean(),
                fmt.equals("gptq"));
    }

    private static SafeTensorsFile tensor(SafeTensorsDirectory st, String name) {
        SafeTensorsFile f = st.fileOf(name);
        if (f == null) {
            throw new InputException("GPTQ tensor '" + name + "' is missing (the layer has a qweight)");
        }
        return f;
    }

    private static int[] ints(SafeTensorsDirectory st, String name, long... shape) {
        SafeTensorsFile f = tensor(st, name);
        check(st, name, f.info(name).dtype() == DType.I32, "is " + f.info(name).dtype() + ", not I32");
        checkShape(st, name, shape);
        return f.ints(name);
    }

    private static void checkShape(SafeTensorsDirectory st, String name, long... shape) {
        long[] got = st.info(name).shape();
        check(st, name, Arrays.equals(got, shape), "has shape " + Arrays.toString(got) + " but config.json implies "
                + Arrays.toString(shape));
    }

    private static void check(SafeTensorsDirectory st, String name, boolean ok, String what) {
        if (!ok) {
            throw InputException.at(st.fileOf(name).path(), "tensor '" + name + "' " + what);
        }
    }
}
