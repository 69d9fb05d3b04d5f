package io.vq4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import io.vq4j.testing.InputErrors;
import io.vq4j.testing.ProtoWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** OnnxFile on ONNX models written byte by byte with the field numbers of onnx.proto. */
class OnnxFileTest {
    @TempDir
    Path tmp;

    static final float[] W = {1.5f, -0.0f, Float.MIN_VALUE, 3.4e38f, -7.25f, 1e-12f};

    static ProtoWriter tensor(String name, int type, long... dims) {
        ProtoWriter t = new ProtoWriter();
        for (long d : dims) {
            t.varint(1, d); // dims, unpacked
        }
        return t.varint(2, type).string(8, name);
    }

    static ProtoWriter node(String name, String op, List<String> in, List<String> out) {
        ProtoWriter n = new ProtoWriter();
        in.forEach(i -> n.string(1, i));
        out.forEach(o -> n.string(2, o));
        return n.string(3, name).string(4, op);
    }

    /** A graph with every tensor encoding and attribute kind the reader handles; the graph is the last field. */
    static byte[] model() {
        ProtoWriter g = new ProtoWriter()
                .message(1, node("mm", "MatMul", List.of("x", "w"), List.of("y")))
                .message(1, node("c", "Constant", List.of(), List.of("eps"))
                        .message(5, new ProtoWriter().string(1, "value").varint(20, 4)
                                .message(5, tensor("", 1).fixed32(4, Float.floatToRawIntBits(1e-12f)))))
                .message(1, node("t", "Transpose", List.of("y", ""), List.of("z"))
                        .message(5, new ProtoWriter().string(1, "perm").varint(20, 7).varint(8, 0).varint(8, 2).varint(8, 1))
                        .message(5, new ProtoWriter().string(1, "axes").varint(20, 7).packedVarints(8, -1, 3))
                        .message(5, new ProtoWriter().string(1, "alpha").varint(20, 1).float32(2, 0.5f))
                        .message(5, new ProtoWriter().string(1, "axis").varint(20, 2).varint(3, -3))
                        .message(5, new ProtoWriter().string(1, "mode").varint(20, 3).string(4, "none"))
                        .message(5, new ProtoWriter().string(1, "scales").varint(20, 6).packedFloats(7, 0.25f, 4f))
                        .string(7, "com.example").string(6, "a doc string to skip"))
                .string(2, "test-graph")
                .message(5, tensor("w", 1, 2, 3).bytes(9, ProtoWriter.littleEndianFloats(W)))
                .message(5, new ProtoWriter().packedVarints(1, 3).varint(2, 1).string(8, "b").packedFloats(4, 1f, 2f, 3f))
                .message(5, tensor("u", 1, 2).float32(4, -1f).float32(4, 0.125f))
                .message(5, tensor("ids", 7, 3).bytes(9, ProtoWriter.littleEndianLongs(0, -1, 1L << 40)))
                .message(5, tensor("pos", 7, 2).packedVarints(7, -5, 7))
                .message(5, tensor("q", 3, 2).bytes(9, new byte[] {1, 2}))
                .message(5, tensor("ext", 1, 2).varint(14, 1)
                        .message(13, new ProtoWriter().string(1, "location").string(2, "weights.bin")))
                .message(5, tensor("short", 1, 2).bytes(9, new byte[7]))
                .message(5, tensor("neg", 1, 2, -1))
                .message(11, new ProtoWriter().string(1, "x").bytes(2, new byte[] {8, 1}))
                .message(12, new ProtoWriter().string(1, "z"));
        return new ProtoWriter().raw(header()).message(7, g).toByteArray();
    }

    /** The model's fields before the graph. */
    static byte[] header() {
        return new ProtoWriter().varint(1, 8).string(2, "vq4j-test").string(3, "1.0")
                .message(8, new ProtoWriter().string(1, "").varint(2, 17)).toByteArray();
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    @Test
    void readsTensorsNodesAndAttributesExactly() throws IOException {
        OnnxFile f = OnnxFile.read(write("m.onnx", model()));
        assertEquals(8, f.irVersion());
        assertEquals("vq4j-test", f.producer());
        assertEquals(List.of("x"), f.graphInputs());
        assertEquals(List.of("z"), f.graphOutputs());
        assertEquals(List.of("w", "b", "u", "ids", "pos", "q", "ext", "short", "neg"), List.copyOf(f.initializers().keySet()));

        OnnxFile.Tensor w = f.initializer("w");
        assertArrayEquals(new long[] {2, 3}, w.dims());
        assertEquals("FLOAT", w.typeName());
        float[] values = f.floats(w);
        for (int i = 0; i < W.length; i++) {
            assertEquals(Float.floatToRawIntBits(W[i]), Float.floatToRawIntBits(values[i]), "w[" + i + "] bit for bit");
        }
        assertArrayEquals(new float[] {1f, 2f, 3f}, f.floats(f.initializer("b")), "packed float_data");
        assertArrayEquals(new float[] {-1f, 0.125f}, f.floats(f.initializer("u")), "unpacked float_data");
        assertArrayEquals(new long[] {0, -1, 1L << 40}, f.longs(f.initializer("ids")), "int64 raw_data");
        assertArrayEquals(new long[] {-5, 7}, f.longs(f.initializer("pos")), "packed int64_data");

        assertEquals(3, f.nodes().size());
        OnnxFile.Node mm = f.nodes().get(0);
        assertEquals("MatMul", mm.opType());
        assertEquals(List.of("x", "w"), mm.inputs());
        assertEquals(List.of("y"), mm.outputs());
        OnnxFile.Attribute value = f.nodes().get(1).attributes().get("value");
        assertEquals(OnnxFile.Attribute.TENSOR, value.type());
        assertArrayEquals(new long[0], value.t().dims());
        assertArrayEquals(new float[] {1e-12f}, f.floats(value.t()), "a Constant's scalar");
        OnnxFile.Node t = f.nodes().get(2);
        assertEquals(List.of("y", ""), t.inputs(), "an absent optional input stays an empty name");
        assertEquals("com.example", t.domain());
        assertArrayEquals(new long[] {0, 2, 1}, t.attributes().get("perm").ints(), "unpacked ints");
        assertArrayEquals(new long[] {-1, 3}, t.attributes().get("axes").ints(), "packed ints, negative as 10-byte varint");
        assertEquals(0.5f, t.attributes().get("alpha").f());
        assertEquals(-3, t.attributes().get("axis").i());
        assertEquals("none", t.attributes().get("mode").s());
        assertArrayEquals(new float[] {0.25f, 4f}, t.attributes().get("scales").floats());
        assertNull(t.attributes().get("perm").t());
    }

    @Test
    void readsTheOneOnnxEntryOfAJarWithoutExtractingIt() throws IOException {
        Path jar = tmp.resolve("model.jar");
        try (OutputStream os = Files.newOutputStream(jar); ZipOutputStream zip = new ZipOutputStream(os)) {
            zip.putNextEntry(new ZipEntry("META-INF/"));
            zip.putNextEntry(new ZipEntry("README"));
            zip.write("not a model".getBytes());
            zip.putNextEntry(new ZipEntry("deep/m.onnx"));
            zip.write(model());
        }
        OnnxFile f = OnnxFile.read(jar);
        assertEquals(jar + "!/deep/m.onnx", f.source());
        assertArrayEquals(new float[] {1f, 2f, 3f}, f.floats(f.initializer("b")));
    }

    @Test
    void aJarMustHoldExactlyOneModel() throws IOException {
        Path none = zip("none.jar", "README", "a.onnx.txt");
        Path two = zip("two.zip", "a.onnx", "b.onnx");
        InputErrors.fails(none, "holds 0", () -> OnnxFile.read(none));
        InputErrors.fails(two, "holds 2: a.onnx, b.onnx", () -> OnnxFile.read(two));
    }

    private Path zip(String name, String... entries) throws IOException {
        Path p = tmp.resolve(name);
        try (OutputStream os = Files.newOutputStream(p); ZipOutputStream zip = new ZipOutputStream(os)) {
            for (String e : entries) {
                zip.putNextEntry(new ZipEntry(e));
                zip.write(model());
            }
        }
        return p;
    }

    @Test
    void everyTruncationFailsWithTheFileAndByteOffset() {
        byte[] full = model();
        int graphKey = header().length;
        for (int len = 0; len < full.length; len++) {
            byte[] cut = Arrays.copyOf(full, len);
            InputException e = assertThrows(InputException.class, () -> OnnxFile.parse("cut.onnx", cut), "length " + len);
            String m = e.getMessage();
            assertTrue(m.startsWith("cut.onnx: "), m);
            assertEquals(1, m.lines().count(), m);
            if (len > graphKey) {
                assertTrue(m.contains("at byte ") && m.contains("truncated or corrupt"), "length " + len + ": " + m);
            } else {
                assertTrue(m.contains("at byte ") || m.contains("no graph"), "length " + len + ": " + m);
            }
        }
    }

    @Test
    void garbageAndBitFlipsFailCleanlyNeverWithAnIndexError() {
        Random rnd = new Random(42);
        byte[] good = model();
        for (int trial = 0; trial < 3000; trial++) {
            byte[] b;
            if (trial % 2 == 0) {
                b = new byte[1 + rnd.nextInt(400)];
                rnd.nextBytes(b);
            } else {
                b = good.clone();
                for (int k = 0; k < 1 + rnd.nextInt(4); k++) {
                    b[rnd.nextInt(b.length)] ^= (byte) (1 << rnd.nextInt(8));
                }
            }
            try {
                OnnxFile f = OnnxFile.parse("fuzz.onnx", b);
                for (OnnxFile.Tensor t : f.initializers().values()) {
                    try {
                        if (t.dataType() == OnnxFile.INT64) {
                            f.longs(t);
                        } else {
                            f.floats(t);
                        }
                    } catch (InputException expected) {
                        assertTrue(expected.getMessage().startsWith("fuzz.onnx: "), expected.getMessage());
                    }
                }
            } catch (InputException expected) {
                assertTrue(expected.getMessage().startsWith("fuzz.onnx: "), expected.getMessage());
            }
        }
    }

    @Test
    void tensorsOtherThanFloatAndInt64AreRejectedByName() throws IOException {
        Path p = write("m.onnx", model());
        OnnxFile f = OnnxFile.read(p);
        InputErrors.fails(p, "tensor 'q' has data type INT8 (3); only FLOAT is supported", () -> f.floats(f.initializer("q")));
        InputErrors.fails(p, "tensor 'w' has data type FLOAT (1); only INT64", () -> f.longs(f.initializer("w")));
    }

    @Test
    void externalDataWrongSizesAndMissingNamesAreInputErrors() throws IOException {
        Path p = write("m.onnx", model());
        OnnxFile f = OnnxFile.read(p);
        InputErrors.fails(p, "tensor 'ext' keeps its data in an external file", () -> f.floats(f.initializer("ext")));
        InputErrors.fails(p, "tensor 'short' has 7 bytes of raw_data; shape [2] needs 8", () -> f.floats(f.initializer("short")));
        InputErrors.fails(p, "tensor 'neg' has a negative dimension -1", () -> f.floats(f.initializer("neg")));
        InputErrors.fails(p, "no initializer 'nope'", () -> f.initializer("nope"));
    }

    @Test
    void malformedWireDataNamesTheByte() throws IOException {
        Path wrongWire = write("wire.onnx", new ProtoWriter().varint(1, 8).varint(7, 3).toByteArray());
        InputErrors.fails(wrongWire, "at byte 2: ModelProto.graph has wire type 0, expected 2", () -> OnnxFile.read(wrongWire));
        byte[] longVarint = new byte[12];
        Arrays.fill(longVarint, (byte) 0xFF);
        longVarint[0] = 8;
        Path overlong = write("varint.onnx", longVarint);
        InputErrors.fails(overlong, "at byte 1: varint longer than 10 bytes", () -> OnnxFile.read(overlong));
        Path group = write("group.onnx", new byte[] {(byte) (5 << 3 | 3)});
        InputErrors.fails(group, "at byte 0: field 5 has wire type 3", () -> OnnxFile.read(group));
        Path text = write("notes.onnx", "hello".getBytes());
        InputErrors.fails(text, "not a valid ONNX protobuf", () -> OnnxFile.read(text));
        Path missing = tmp.resolve("missing.onnx");
        InputErrors.fails(missing, "no such file", () -> OnnxFile.read(missing));
    }
}
