package io.vq4j.export.gptq;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
    record Config(int bits, int groupSize, boolean symmetric, boolean v1) {
    }

    @Override
    public PackedMatrix read(SafeTensorsDirectory st, String name, int rows, int cols) {
        String qw = name + ".qweight";
        if (!st.contains(qw)) {
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
        float[] scales = tensor(st, sc).floats(sc);
        check(st, sc, tensor(st, sc).info(sc).dtype().isFloating(), "is not a float tensor");
        checkShape(st, sc, groups, rows);
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

    static Config config(Path file) {
        JsonNode root;
        try {
            root = Files.isRegularFile(file) ? JSON.readTree(file.toFile()) : null;
        } catch (IOException e) {
            throw InputException.at(file, "cannot be read as JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        JsonNode q = root == null ? null : root.get("quantization_config");
        if (q == null || !"gptq".equals(q.path("quant_method").asText())) {
            throw InputException.at(file, "has no quantization_config with quant_method \"gptq\", but the"
                    + " checkpoint holds GPTQ tensors (qweight)");
        }
        JsonNode b = q.get("bits");
        if (b == null || !b.isIntegralNumber() || GptqLayer.unpackable(b.asInt(), 32, 32) != null) {
            throw InputException.at(file, "quantization_config.bits must be 2, 3, 4 or 8, got " + b);
        }
        JsonNode g = q.get("group_size");
        if (g == null || !g.isIntegralNumber() || g.asInt() == 0 || g.asInt() < -1) {
            throw InputException.at(file, "quantization_config.group_size must be -1 or a positive integer, got " + g);
        }
        String fmt = q.path("checkpoint_format").asText("gptq");
        if (!fmt.equals("gptq") && !fmt.equals("gptq_v2")) {
            throw InputException.at(file, "quantization_config.checkpoint_format must be gptq or gptq_v2, got " + fmt);
        }
        JsonNode sym = q.get("sym");
        if (sym != null && !sym.isBoolean()) {
            throw InputException.at(file, "quantization_config.sym must be true or false, got " + sym);
        }
        return new Config(b.asInt(), g.asInt(), sym != null && sym.asBoolean(), fmt.equals("gptq"));
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
