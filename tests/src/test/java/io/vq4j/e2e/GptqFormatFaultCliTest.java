package io.vq4j.e2e;

import static io.vq4j.e2e.FormatFaultCliTest.refused;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A GPTQ checkpoint with a format error is refused on import ({@code vq eval ppl}) with one line
 * that names the file and what is wrong, exit code 2 and no stack trace: each case is the
 * stories260K rtn 4-bit g32 export (format v1) with one thing broken. Also the cases the format
 * allows that are read: an AutoGPTQ-style checkpoint with quantize_config.json only (no
 * quantization_config in config.json) evaluates exactly as the export does.
 */
class GptqFormatFaultCliTest {
    static final String TEXT = SharedData.tinyStoriesVal().toString();
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String L = "model.layers.0.self_attn.q_proj";
    @TempDir
    static Path work;
    static Path gptq;
    static double nll;
    private static int n;

    @BeforeAll
    static void export() throws IOException {
        Path packed = work.resolve("rtn");
        CliEndToEndTest.Run r = CliEndToEndTest.vq("quantize", "--model", SharedData.stories260K().toString(),
                "--calib", TEXT, "--method", "rtn", "--bits", "4", "--group-size", "32", "--calib-samples", "2",
                "--calib-len", "64", "--out", packed.toString());
        assertEquals(0, r.code(), r.err());
        gptq = work.resolve("gptq");
        r = CliEndToEndTest.vq("export", "--format", "gptq", "--model", packed.toString(), "--out", gptq.toString());
        assertEquals(0, r.code(), r.err());
        nll = meanNll(ppl(gptq));
    }

    private static CliEndToEndTest.Run ppl(Path model) {
        return CliEndToEndTest.vq("eval", "ppl", "--model", model.toString(), "--text", TEXT, "--limit-bytes", "2000",
                "--json");
    }

    private static double meanNll(CliEndToEndTest.Run r) throws IOException {
        assertEquals(0, r.code(), r.err());
        return r.json().path("mean_nll").asDouble();
    }

    private static Path copy() throws IOException {
        Path to = work.resolve("case-" + n++);
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(gptq)) {
            for (Path p : s.sorted(Comparator.naturalOrder()).toList()) {
                Files.copy(p, to.resolve(p.getFileName()));
            }
        }
        return to;
    }

    /** One tensor as the edit sees it; set bytes to null to drop it. */
    static final class T {
        DType dtype;
        long[] shape;
        byte[] bytes;
    }

    /** Rewrites model.safetensors with tensor {@code name} edited. */
    private static void edit(Path dir, String name, Consumer<T> change) throws IOException {
        Path p = dir.resolve("model.safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter();
        boolean seen = false;
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            for (Map.Entry<String, String> e : f.metadata().entrySet()) {
                w.metadata(e.getKey(), e.getValue());
            }
            for (String t : f.names()) {
                SafeTensorsFile.TensorInfo i = f.info(t);
                T x = new T();
                x.dtype = i.dtype();
                x.shape = i.shape();
                x.bytes = f.data(t).toArray(ValueLayout.JAVA_BYTE);
                if (t.equals(name)) {
                    change.accept(x);
                    seen = true;
                }
                if (x.bytes != null) {
                    w.addBytes(t, x.dtype, x.shape, x.bytes);
                }
            }
        }
        assertTrue(seen, name);
        Path tmp = dir.resolve("model.safetensors.new");
        w.write(tmp);
        Files.move(tmp, p, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Edits quantization_config in config.json and, when it is there, quantize_config.json alike. */
    private static void config(Path dir, Consumer<ObjectNode> change) throws IOException {
        ObjectNode c = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
        change.accept((ObjectNode) c.get("quantization_config"));
        Files.writeString(dir.resolve("config.json"), c.toPrettyString());
        Path side = dir.resolve("quantize_config.json");
        if (Files.exists(side)) {
            ObjectNode q = (ObjectNode) JSON.readTree(side.toFile());
            change.accept(q);
            Files.writeString(side, q.toPrettyString());
        }
    }

    private static String file(Path dir) {
        return dir.resolve("model.safetensors").toString();
    }

    @Test
    void truncatedOrMissingQweight() throws IOException {
        Path d = copy();
        edit(d, L + ".qweight", t -> {
            t.shape = new long[] {7, 64};
            t.bytes = Arrays.copyOf(t.bytes, 7 * 64 * 4);
        });
        refused(ppl(d), file(d), "tensor '" + L + ".qweight' has shape [7, 64] but config.json implies [8, 64]");

        d = copy();
        long size = Files.size(d.resolve("model.safetensors"));
        try (RandomAccessFile f = new RandomAccessFile(d.resolve("model.safetensors").toFile(), "rw")) {
            f.setLength(size - 1000);
        }
        refused(ppl(d), file(d), "outside the data area");

        d = copy();
        edit(d, L + ".qweight", t -> t.bytes = null);
        refused(ppl(d), file(d), "GPTQ tensor '" + L + ".qweight' is missing (the layer has " + L + ".qzeros)");

        d = copy();
        edit(d, L + ".scales", t -> t.bytes = null);
        refused(ppl(d), "GPTQ tensor '" + L + ".scales' is missing (the layer has a qweight)");
    }

    @Test
    void wrongShapesAndDtypes() throws IOException {
        Path d = copy();
        edit(d, L + ".scales", t -> t.shape = new long[] {4, 32});
        refused(ppl(d), file(d), "tensor '" + L + ".scales' has shape [4, 32] but config.json implies [2, 64]");

        d = copy();
        edit(d, L + ".qzeros", t -> t.shape = new long[] {1, 16});
        refused(ppl(d), file(d), "tensor '" + L + ".qzeros' has shape [1, 16] but config.json implies [2, 8]");

        d = copy();
        edit(d, L + ".g_idx", t -> t.dtype = DType.F32);
        refused(ppl(d), file(d), "tensor '" + L + ".g_idx' is F32, not I32");

        d = copy(); // the config says 2 bits: qweight of a 4-bit layer is twice what 2 bits imply
        config(d, q -> q.put("bits", 2));
        refused(ppl(d), file(d), "tensor '" + L + ".qweight' has shape [8, 64] but config.json implies [4, 64]");
    }

    @Test
    void bitsOutsideTwoThreeFourEight() throws IOException {
        for (int bits : new int[] {5, 1, 16}) {
            Path d = copy();
            config(d, q -> q.put("bits", bits));
            refused(ppl(d), d.resolve("config.json").toString(),
                    "quantization_config.bits must be 2, 3, 4 or 8, got " + bits);
        }
    }

    @Test
    void gIdxOutOfRange() throws IOException {
        for (int v : new int[] {2, -1}) {
            Path d = copy();
            edit(d, L + ".g_idx", t -> {
                t.bytes[12] = (byte) v; // element 3, little-endian
                t.bytes[13] = (byte) (v >> 8);
                t.bytes[14] = (byte) (v >> 16);
                t.bytes[15] = (byte) (v >> 24);
            });
            refused(ppl(d), file(d), "tensor '" + L + ".g_idx' element 3 = " + v + " is not a group in [0, 2)");
        }
        Path d = copy();
        config(d, q -> q.put("desc_act", true));
        edit(d, L + ".g_idx", t -> t.bytes = null);
        refused(ppl(d), "GPTQ tensor '" + L + ".g_idx' is missing but the quantization config says desc_act");
    }

    @Test
    void missingOrDisagreeingQuantizationConfig() throws IOException {
        Path d = copy();
        ObjectNode c = (ObjectNode) JSON.readTree(d.resolve("config.json").toFile());
        c.remove("quantization_config");
        Files.writeString(d.resolve("config.json"), c.toPrettyString());
        // AutoGPTQ's older layout: the settings in quantize_config.json only; read, the same numbers
        assertEquals(nll, meanNll(ppl(d)), 0.0);
        Files.delete(d.resolve("quantize_config.json"));
        refused(ppl(d), d.resolve("config.json").toString(), "has no quantization_config and there is no"
                + " quantize_config.json beside it, but the checkpoint holds GPTQ tensors (qweight)");

        d = copy();
        ObjectNode q = (ObjectNode) JSON.readTree(d.resolve("quantize_config.json").toFile());
        q.put("group_size", 64);
        Files.writeString(d.resolve("quantize_config.json"), q.toPrettyString());
        refused(ppl(d), d.resolve("quantize_config.json").toString(),
                "says group_size 64 but config.json's quantization_config says 32");

        d = copy();
        config(d, x -> x.put("quant_method", "awq"));
        refused(ppl(d), d.resolve("config.json").toString(), "has quantization_config.quant_method \"awq\"");
    }

    @Test
    void unknownCheckpointFormatOrPacking() throws IOException {
        Path d = copy();
        config(d, q -> q.put("checkpoint_format", "gptq_v3"));
        refused(ppl(d), "quantization_config.checkpoint_format must be gptq or gptq_v2, got gptq_v3");

        d = copy();
        config(d, q -> q.put("checkpoint_format", "marlin"));
        refused(ppl(d), "quantization_config.checkpoint_format must be gptq or gptq_v2, got marlin");

        d = copy();
        config(d, q -> q.put("pack_dtype", "int16"));
        refused(ppl(d), "quantization_config.pack_dtype is \"int16\"; vq4j reads int32-packed GPTQ tensors only");

        d = copy();
        config(d, q -> ((ObjectNode) q.get("dynamic")).putObject("+:.*q_proj.*").put("bits", 8));
        refused(ppl(d), "quantization_config.dynamic has the per-module override '+:.*q_proj.*'");

        d = copy(); // sym: every zero point must be 2^(bits-1); rtn's asymmetric ones are not
        config(d, q -> q.put("sym", true));
        refused(ppl(d), file(d), "tensor '" + L + ".qzeros' holds zero point", "but config.json says sym with 4 bits");
    }

    @Test
    void nanOrInfiniteScales() throws IOException {
        String[] what = {"NaN", "Infinity", "-Infinity"};
        short[] half = {(short) 0x7E00, (short) 0x7C00, (short) 0xFC00};
        for (int k = 0; k < what.length; k++) {
            short h = half[k];
            Path d = copy();
            edit(d, L + ".scales", t -> {
                t.bytes[2 * 70] = (byte) h; // element 70: group 1, output 6
                t.bytes[2 * 70 + 1] = (byte) (h >> 8);
            });
            refused(ppl(d), file(d), "tensor '" + L + ".scales' has a non-finite value (" + what[k]
                    + ") at index 70 (row 1, column 6)");
        }
    }
}
