package io.vq4j.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import io.vq4j.testing.InputErrors;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the writer writes, the reader reads back unchanged, in every dtype, and past 2 GiB. */
class SafeTensorsFileTest {
    @TempDir
    Path dir;

    private static final float[] SPECIAL = {1.5f, -2.25f, 0f, -0f, 65504f, 1e-3f, Float.MIN_NORMAL, Float.MIN_VALUE,
        Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 3.14159265f, -1e20f};

    private static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    private static byte[] bytesOf(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void everyDtypeReadsBackByteForByteWithMetadataAndAnEmptyTensor() throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt").metadata("note", "ü € \"quoted\"");
        Map<String, byte[]> raw = new java.util.LinkedHashMap<>();
        int k = 0;
        for (DType d : DType.values()) {
            byte[] b = randomBytes(6 * d.bytes(), k++);
            raw.put("raw_" + d, b);
            w.addBytes("raw_" + d, d, new long[] {2, 3}, b);
        }
        byte[] seg = randomBytes(5 * 8, 99);
        w.addSegment("seg_I64", DType.I64, new long[] {5}, MemorySegment.ofArray(seg));
        for (DType d : List.of(DType.F64, DType.F32, DType.F16, DType.BF16)) {
            w.addFloats("f_" + d, d, new long[] {SPECIAL.length}, SPECIAL);
        }
        w.addFloats("empty", DType.BF16, new long[] {0, 5}, new float[0]);
        w.addBytes("scalar", DType.I32, new long[] {}, new byte[] {7, 0, 0, 0});
        Path p = dir.resolve("all.safetensors");
        w.write(p);

        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertEquals(Map.of("format", "pt", "note", "ü € \"quoted\""), f.metadata());
            List<String> expectedOrder = new java.util.ArrayList<>(raw.keySet());
            expectedOrder.addAll(List.of("seg_I64", "f_F64", "f_F32", "f_F16", "f_BF16", "empty", "scalar"));
            assertEquals(expectedOrder, f.names(), "file order");
            raw.forEach((name, b) -> assertArrayEquals(b, bytesOf(f.data(name)), name));
            assertArrayEquals(seg, bytesOf(f.data("seg_I64")));
            for (DType d : List.of(DType.F64, DType.F32, DType.F16, DType.BF16)) {
                float[] back = f.storedFloats("f_" + d);
                for (int i = 0; i < SPECIAL.length; i++) {
                    assertEquals(Float.floatToIntBits(d.stored(SPECIAL[i])), Float.floatToIntBits(back[i]), d + "[" + i + "]");
                }
                // what commands read (floats) refuses the infinities and NaN among them, naming the first
                String name = "f_" + d;
                InputErrors.fails(p, "tensor '" + name + "' has a non-finite value", () -> f.floats(name));
                assertArrayEquals(new long[] {SPECIAL.length}, f.info("f_" + d).shape());
            }
            assertEquals(0, f.floats("empty").length);
            assertArrayEquals(new long[] {0, 5}, f.info("empty").shape());
            assertArrayEquals(new int[] {7}, f.ints("scalar"));
            assertEquals(1, f.info("scalar").elements());
        }
        try (var s = Files.list(dir)) {
            assertEquals(List.of(p), s.toList(), "no temporary file left beside the output");
        }
    }

    @Test
    void integerTensorsAreWidenedWithTheirSignedness() throws IOException {
        Path p = dir.resolve("ints.safetensors");
        ByteBuffer i64 = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-5).putLong(1L << 40);
        ByteBuffer i32 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(-7).putInt(Integer.MAX_VALUE);
        ByteBuffer i16 = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putShort((short) -300).putShort((short) 300);
        new SafeTensorsWriter()
                .addBytes("i64", DType.I64, new long[] {2}, i64.array())
                .addBytes("i32", DType.I32, new long[] {2}, i32.array())
                .addBytes("i16", DType.I16, new long[] {2}, i16.array())
                .addBytes("i8", DType.I8, new long[] {2}, new byte[] {-1, 127})
                .addBytes("u8", DType.U8, new long[] {2}, new byte[] {-1, 127})
                .addBytes("bool", DType.BOOL, new long[] {3}, new byte[] {0, 1, 2})
                .write(p);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertArrayEquals(new long[] {-5, 1L << 40}, f.longs("i64"));
            assertArrayEquals(new int[] {-7, Integer.MAX_VALUE}, f.ints("i32"));
            assertArrayEquals(new int[] {-300, 300}, f.ints("i16"));
            assertArrayEquals(new int[] {-1, 127}, f.ints("i8"));
            assertArrayEquals(new int[] {255, 127}, f.ints("u8"));
            assertArrayEquals(new int[] {0, 1, 1}, f.ints("bool"));
            InputException e = assertThrows(InputException.class, () -> f.ints("i64"));
            assertTrue(e.getMessage().contains("element 1 = 1099511627776 does not fit"), e.getMessage());
        }
    }

    @Test
    void headerIsPaddedWithSpacesToAMultipleOfEightAndDataFollowsIt() throws IOException {
        for (int nameLength = 1; nameLength <= 9; nameLength++) {
            Path p = dir.resolve("pad" + nameLength + ".safetensors");
            byte[] value = {1, 2, 3};
            new SafeTensorsWriter().addBytes("x".repeat(nameLength), DType.U8, new long[] {3}, value).write(p);
            byte[] all = Files.readAllBytes(p);
            long headerLen = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, headerLen % 8, "header length " + headerLen);
            String header = new String(all, 8, (int) headerLen, StandardCharsets.UTF_8);
            assertTrue(header.stripTrailing().endsWith("}"), header);
            assertTrue(header.substring(header.lastIndexOf('}') + 1).chars().allMatch(c -> c == ' '), "padding is spaces");
            assertEquals(8 + headerLen + value.length, all.length, "data contiguous, nothing after it");
            assertArrayEquals(value, Arrays.copyOfRange(all, (int) (8 + headerLen), all.length));
        }
    }

    @Test
    void tensorsBeyondTwoGibibytesAreRead() throws IOException {
        long big = (1L << 31) + 4096; // a U8 filler pushes the last tensor past 2 GiB
        String header = "{\"filler\":{\"dtype\":\"U8\",\"shape\":[" + big + "],\"data_offsets\":[0," + big + "]},"
                + "\"tail\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[" + big + "," + (big + 6) + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path p = dir.resolve("big.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.setLength(8 + h.length + big + 6); // sparse: nothing near 2 GB is written
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            raf.write(h);
            raf.seek(8 + h.length + big);
            raf.write(ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN)
                    .putShort(DType.floatToBf16(3.5f)).putShort(DType.floatToBf16(-1f)).putShort(DType.floatToBf16(0.25f))
                    .array());
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertArrayEquals(new float[] {3.5f, -1f, 0.25f}, f.floats("tail"));
            assertEquals(8 + h.length + big, f.info("tail").begin());
            assertEquals(big, f.data("filler").byteSize());
            assertEquals(0, f.data("filler").get(ValueLayout.JAVA_BYTE, big - 1));
            InputException e = assertThrows(InputException.class, () -> f.longs("filler"));
            assertTrue(e.getMessage().contains("too many for one Java array"), e.getMessage());
        }
    }

    @Test
    void writerRejectsValuesThatDoNotMatchTheShape() {
        SafeTensorsWriter w = new SafeTensorsWriter();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> w.addFloats("w", DType.F16, new long[] {2, 3}, new float[5]));
        assertTrue(e.getMessage().contains("= 12 bytes, but 10 bytes were given"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> w.addBytes("w", DType.I32, new long[] {2}, new byte[7]));
        assertThrows(IllegalArgumentException.class, () -> w.addFloats("w", DType.I32, new long[] {1}, new float[1]));
        assertThrows(IllegalArgumentException.class, () -> w.addFloats("__metadata__", DType.F32, new long[] {1}, new float[1]));
        w.addFloats("w", DType.F32, new long[] {1}, new float[1]); // the failed adds left nothing behind
        assertThrows(IllegalArgumentException.class, () -> w.addFloats("w", DType.F32, new long[] {1}, new float[1]));
    }

    @Test
    void aSourceWritingTheWrongByteCountLeavesNoFile() {
        Path p = dir.resolve("bad.safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter().add("w", DType.F32, new long[] {2},
                out -> out.write(ByteBuffer.allocate(4)));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.write(p));
        assertTrue(e.getMessage().contains("wrote 4 bytes, expected 8"), e.getMessage());
        assertTrue(dir.toFile().list().length == 0, "neither the target nor a temporary file exists");
    }

    @Test
    void rewritingReplacesTheOldFileWhole() throws IOException {
        Path p = dir.resolve("m.safetensors");
        new SafeTensorsWriter().addFloats("a", DType.F32, new long[] {100}, new float[100]).write(p);
        new SafeTensorsWriter().addFloats("b", DType.F32, new long[] {1}, new float[] {2}).write(p);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertEquals(List.of("b"), f.names());
            assertArrayEquals(new float[] {2}, f.floats("b"));
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        float ulp = 0x1p-7f; // bf16 keeps 7 mantissa bits
        assertEquals(1f, DType.BF16.stored(1 + ulp / 2), "tie to even (down)");
        assertEquals(1 + 2 * ulp, DType.BF16.stored(1 + 3 * ulp / 2), "tie to even (up)");
        assertEquals(1 + ulp, DType.BF16.stored(1 + ulp / 2 + 0x1p-20f), "above the tie rounds up");
        assertEquals(-1f, DType.BF16.stored(-1 - ulp / 2), "negative tie to even");
        assertEquals(Float.POSITIVE_INFINITY, DType.BF16.stored(Float.MAX_VALUE), "overflow to infinity");
        assertTrue(Float.isNaN(DType.BF16.stored(Float.intBitsToFloat(0x7f800001))), "NaN with low payload stays NaN");
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(DType.BF16.stored(-0f)));
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < 10_000; i++) {
            float v = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-30, 30)));
            float b = DType.BF16.stored(v);
            assertEquals(0, Float.floatToRawIntBits(b) & 0xffff, "bf16 is an fp32 with a zero low half");
            assertTrue(Math.abs(b - v) <= Math.abs(v) * 0x1p-8f, v + " -> " + b);
        }
    }

    @Test
    void f16ConversionMatchesTheJdk() {
        assertEquals(65504f, DType.F16.stored(65504f));
        assertEquals(Float.POSITIVE_INFINITY, DType.F16.stored(65520f), "rounds past the largest half");
        assertEquals(0x1p-24f, DType.F16.stored(0x1p-24f), "smallest subnormal half");
        assertEquals(1.5f, DType.F64.stored(1.5f));
        assertThrows(IllegalArgumentException.class, () -> DType.I8.stored(1f));
    }

    @Test
    void dtypeNamesAndSizesAreTheFormatOnes() {
        Map<String, Integer> expected = Map.of("F64", 8, "F32", 4, "F16", 2, "BF16", 2, "I64", 8, "I32", 4, "I16", 2,
                "I8", 1, "U8", 1, "BOOL", 1);
        assertEquals(expected.size(), DType.values().length);
        expected.forEach((name, size) -> assertEquals(size, DType.parse(name).bytes(), name));
        assertEquals(null, DType.parse("f32"), "names are case-sensitive");
    }
}
