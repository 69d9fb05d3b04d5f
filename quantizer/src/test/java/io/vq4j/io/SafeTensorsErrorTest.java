package io.vq4j.io;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import io.vq4j.model.HfCheckpoints;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.function.Executable;

/** Each kind of broken input gives one InputException line that names the file and the problem. */
class SafeTensorsErrorTest {
    @TempDir
    Path dir;

    private Path file(long headerLength, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength).put(h);
        Path p = dir.resolve("model.safetensors");
        Files.write(p, b.array());
        return p;
    }

    private Path file(String header, int dataBytes) throws IOException {
        return file(header.getBytes(StandardCharsets.UTF_8).length, header, dataBytes);
    }

    private static void fails(Path named, String problem, Executable open) {
        InputException e = assertThrows(InputException.class, open);
        assertTrue(e.getMessage().contains(named.toString()), "names the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(problem), "says '" + problem + "': " + e.getMessage());
        assertTrue(e.getMessage().lines().count() == 1, "one line: " + e.getMessage());
    }

    @Test
    void fileShorterThanTheLengthFieldIsTruncated() throws IOException {
        Path p = dir.resolve("model.safetensors");
        Files.write(p, new byte[] {1, 2, 3});
        fails(p, "truncated", () -> SafeTensorsFile.open(p));
    }

    @Test
    void headerLengthBeyondTheFileIsTruncated() throws IOException {
        Path p = file(1000, "{}", 0);
        fails(p, "runs past the end of the file", () -> SafeTensorsFile.open(p));
    }

    @Test
    void insaneHeaderLengthIsRejected() throws IOException {
        Path p = file(Long.MAX_VALUE / 2, "{}", 0);
        fails(p, "not sane", () -> SafeTensorsFile.open(p));
    }

    @Test
    void invalidJsonIsRejected() throws IOException {
        Path p = file("{\"a\": [", 0);
        fails(p, "not valid JSON", () -> SafeTensorsFile.open(p));
    }

    @Test
    void offsetsOutsideTheDataAreRejected() throws IOException {
        Path p = file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
        fails(p, "outside the data area", () -> SafeTensorsFile.open(p));
    }

    @Test
    void overlappingTensorsAreRejected() throws IOException {
        Path p = file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
        fails(p, "overlap", () -> SafeTensorsFile.open(p));
    }

    @Test
    void dtypeTimesShapeMustMatchTheByteRange() throws IOException {
        Path p = file("{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
        fails(p, "data_offsets span 8", () -> SafeTensorsFile.open(p));
    }

    @Test
    void unknownDtypeIsRejected() throws IOException {
        Path p = file("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
        fails(p, "unknown dtype 'F8_E4M3'", () -> SafeTensorsFile.open(p));
    }

    @Test
    void missingShardIsRejected() throws IOException {
        Files.writeString(dir.resolve(SafeTensorsDirectory.INDEX),
                "{\"weight_map\":{\"w\":\"model-00002-of-00002.safetensors\"}}");
        fails(dir.resolve(SafeTensorsDirectory.INDEX), "model-00002-of-00002.safetensors",
                () -> SafeTensorsDirectory.open(dir));
    }

    @Test
    void tensorListedInIndexButAbsentFromShardIsRejected() throws IOException {
        new SafeTensorsWriter().addFloats("x", DType.F32, new long[] {1}, new float[] {1}).write(dir.resolve("s1.safetensors"));
        Files.writeString(dir.resolve(SafeTensorsDirectory.INDEX), "{\"weight_map\":{\"w\":\"s1.safetensors\"}}");
        fails(dir.resolve("s1.safetensors"), "has no tensor 'w'", () -> SafeTensorsDirectory.open(dir));
    }

    private static final String CONFIG = """
            {"architectures":["LlamaForCausalLM"],"hidden_size":8,"intermediate_size":16,"num_hidden_layers":1,
             "num_attention_heads":2,"num_key_value_heads":1,"vocab_size":10,"max_position_embeddings":32,
             "rms_norm_eps":1e-5,"tie_word_embeddings":true}""";

    @Test
    void configMissingAFieldIsRejected() throws IOException {
        Files.writeString(dir.resolve("config.json"), CONFIG.replace("\"intermediate_size\":16,", ""));
        fails(dir.resolve("config.json"), "missing required field intermediate_size", () -> HfCheckpoints.read(dir));
    }

    @Test
    void configInconsistentHeadsAreRejected() throws IOException {
        Files.writeString(dir.resolve("config.json"), CONFIG.replace("\"num_key_value_heads\":1", "\"num_key_value_heads\":3"));
        fails(dir.resolve("config.json"), "does not divide", () -> HfCheckpoints.read(dir));
    }

    @Test
    void tensorShapeDisagreeingWithConfigIsRejected() throws IOException {
        Files.writeString(dir.resolve("config.json"), CONFIG);
        new SafeTensorsWriter().addFloats("model.embed_tokens.weight", DType.F32, new long[] {10, 4}, new float[40])
                .write(dir.resolve("model.safetensors"));
        fails(dir.resolve("model.safetensors"), "config.json implies [10, 8]", () -> HfCheckpoints.read(dir));
    }

    @Test
    void missingTensorIsRejected() throws IOException {
        Files.writeString(dir.resolve("config.json"), CONFIG);
        new SafeTensorsWriter().addFloats("model.embed_tokens.weight", DType.F32, new long[] {10, 8}, new float[80])
                .write(dir.resolve("model.safetensors"));
        fails(dir, "'model.layers.0.input_layernorm.weight' is missing", () -> HfCheckpoints.read(dir));
    }

    @Test
    void writerOutputReadsBackByteForByteInEveryDtype() throws IOException {
        float[] v = {1.5f, -2.25f, 0f, 65504f, 1e-3f, Float.MIN_NORMAL};
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
        for (DType d : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            w.addFloats("f_" + d, d, new long[] {2, 3}, v);
        }
        byte[] ints = new byte[8 * 3];
        for (int i = 0; i < ints.length; i++) {
            ints[i] = (byte) (i * 7);
        }
        for (DType d : new DType[] {DType.I64, DType.I32, DType.I16, DType.I8, DType.U8, DType.BOOL, DType.F64}) {
            w.addBytes("i_" + d, d, new long[] {24 / d.bytes()}, Arrays.copyOf(ints, 24));
        }
        w.addFloats("empty", DType.F32, new long[] {0, 5}, new float[0]);
        Path p = dir.resolve("all.safetensors");
        w.write(p);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertTrue(f.metadata().get("format").equals("pt"));
            long headerLen = ByteBuffer.wrap(Files.readAllBytes(p), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertTrue(headerLen % 8 == 0, "header padded to 8 bytes");
            for (DType d : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                float[] back = f.floats("f_" + d);
                for (int i = 0; i < v.length; i++) {
                    float expected = switch (d) {
                        case F16 -> Float.float16ToFloat(Float.floatToFloat16(v[i]));
                        case BF16 -> DType.bf16ToFloat(DType.floatToBf16(v[i]));
                        default -> v[i];
                    };
                    assertTrue(Float.compare(expected, back[i]) == 0, d + "[" + i + "]");
                }
            }
            for (DType d : new DType[] {DType.I64, DType.I32, DType.I16, DType.I8, DType.U8, DType.BOOL, DType.F64}) {
                byte[] back = f.data("i_" + d).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                assertTrue(Arrays.equals(Arrays.copyOf(ints, 24), back), d.name());
            }
            assertTrue(f.floats("empty").length == 0);
        }
        try (var s = Files.list(dir)) {
            assertTrue(s.noneMatch(q -> q.getFileName().toString().endsWith(".partial")), "no temp file left");
        }
    }

    @Test
    void tensorsBeyondTwoGibibytesAreRead() throws IOException {
        long big = (1L << 31) + 4096; // a U8 filler pushes the last tensor past 2 GiB
        String header = "{\"filler\":{\"dtype\":\"U8\",\"shape\":[" + big + "],\"data_offsets\":[0," + big + "]},"
                + "\"tail\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + big + "," + (big + 8) + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path p = dir.resolve("big.safetensors");
        try (var raf = new java.io.RandomAccessFile(p.toFile(), "rw")) {
            raf.setLength(8 + h.length + big + 8); // sparse: no 2 GB written
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length);
            raf.write(b.array());
            raf.write(h);
            raf.seek(8 + h.length + big);
            ByteBuffer t = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(3.5f).putFloat(-1f);
            raf.write(t.array());
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            float[] tail = f.floats("tail");
            assertTrue(tail[0] == 3.5f && tail[1] == -1f, Arrays.toString(tail));
            assertTrue(f.info("filler").bytes() == big);
        }
    }
}
