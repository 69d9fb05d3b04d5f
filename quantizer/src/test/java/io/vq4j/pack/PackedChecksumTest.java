package io.vq4j.pack;

import static io.vq4j.pack.PackedLayersTest.assertSameLayer;
import static io.vq4j.pack.PackedLayersTest.mapSource;
import static io.vq4j.pack.PackedLayersTest.partMap;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.StageValues;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Format 2's CRC32C per tensor (issue 21 item 8): a flipped bit in any tensor of a layer is
 * refused naming the tensor (format 1 read it silently), the checksums are those of the bytes
 * written, the check can be skipped, and format 1 still reads.
 */
class PackedChecksumTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Format 1 as the old writer wrote it: the same layout without checksums. */
    static String format1(String layout) throws Exception {
        ObjectNode o = (ObjectNode) JSON.readTree(layout);
        o.remove(PackedLayers.CRC_KEY);
        o.put("format", 1);
        return o.toString();
    }

    private static PackedLayers.Part flipped(PackedLayers.Part p, int bit) {
        byte[] b = p.bytes().clone();
        b[b.length / 2] ^= (byte) (1 << bit);
        return new PackedLayers.Part(p.name(), p.dtype(), p.shape(), b);
    }

    /** A layer whose only stage uses a shared codebook tensor. */
    static PackedMatrix sharedLayer() {
        float[] book = {1, -2, 0.5f, 3, -1, 0.25f, 2, 4};
        List<StageValues> st = List.of(new StageValues(4, CodebookFormat.F16, book, null,
                new int[]{0, 1, 2, 3, 3, 2, 1, 0}, "vq4j.shared.all.codebook"));
        return PackedMatrix.builder(4, 4).method("kmeans").vector("", 0, 4, Axis.IN, 2, 4, 4, st, null).build();
    }

    @Test
    void theLayoutRecordsTheCrc32cOfEveryTensorItReads() throws Exception {
        PackedMatrix q = PackedLayersTest.layers().get(4); // perm, norm, an outlier segment, three stages
        Map<String, PackedLayers.Part> m = partMap("m.x", q);
        var crcs = JSON.readTree(PackedLayers.layoutJson(q)).get(PackedLayers.CRC_KEY);
        assertEquals(2, JSON.readTree(PackedLayers.layoutJson(q)).get("format").asInt());
        assertEquals(m.size() + 1, crcs.size(), crcs.toString()); // and the layout's own
        for (PackedLayers.Part p : m.values()) {
            CRC32C c = new CRC32C();
            c.update(p.bytes());
            assertEquals(String.format("%08x", c.getValue()), crcs.path(p.name().substring(4)).asText(), p.name());
        }
    }

    @Test
    void aFlippedBitInAnyTensorIsRefusedNamingIt() {
        int layer = 0;
        for (PackedMatrix q : PackedLayersTest.layers()) {
            String name = "model.layers." + layer++ + ".mlp.up_proj";
            String layout = PackedLayers.layoutJson(q);
            Map<String, PackedLayers.Part> m = partMap(name, q);
            for (String t : m.keySet()) {
                for (int bit : new int[]{0, 7}) {
                    Map<String, PackedLayers.Part> bad = new HashMap<>(m);
                    bad.put(t, flipped(m.get(t), bit));
                    var e = assertThrows(IllegalArgumentException.class,
                            () -> PackedLayers.read(name, layout, mapSource(bad)), t);
                    assertTrue(e.getMessage().startsWith("tensor '" + t + "' fails its CRC32C check (recorded "),
                            e.getMessage());
                    assertTrue(e.getMessage().endsWith("the file is corrupt"), e.getMessage());
                }
            }
            assertSameLayer(q, PackedLayers.read(name, layout, mapSource(m)));
        }
    }

    @Test
    void aChangedDigitInTheLayoutIsRefusedToo() {
        PackedMatrix q = PackedLayersTest.layers().get(3); // block scales: offset -3, step 0.25
        Map<String, PackedLayers.Part> m = partMap("x", q);
        String layout = PackedLayers.layoutJson(q);
        String text = layout.substring(0, layout.lastIndexOf(",\"crc32c\":"));
        CRC32C c = new CRC32C();
        c.update(text.getBytes(StandardCharsets.UTF_8));
        assertTrue(layout.endsWith("\"layout\":\"" + String.format("%08x", c.getValue()) + "\"}}"), layout);
        // -3 -> -2 doubles every block scale: the tensors are intact, so only the layout's own CRC can tell
        String changed = layout.replace("\"offset\":-3.0", "\"offset\":-2.0");
        assertTrue(!changed.equals(layout));
        var e = assertThrows(IllegalArgumentException.class, () -> PackedLayers.read("x", changed, mapSource(m)));
        assertTrue(e.getMessage().startsWith("layout of 'x' fails its CRC32C check (recorded "), e.getMessage());
        PackedMatrix unchecked = PackedLayers.read("x", changed, mapSource(m), false);
        assertFalse(Arrays.equals(q.dequantize(), unchecked.dequantize()));
        String[] noOwn = {layout.replaceFirst(",\"layout\":\"[0-9a-f]{8}\"", ""),
                layout.replace(",\"crc32c\":", ",\"crc32c\" :")};
        for (String bad : noOwn) {
            e = assertThrows(IllegalArgumentException.class, () -> PackedLayers.read("x", bad, mapSource(m), false));
            assertTrue(e.getMessage().startsWith("layout of 'x' (format 2) lacks its own checksum"), e.getMessage());
        }
    }

    @Test
    void aFlippedBitInASharedCodebookIsRefused() {
        PackedMatrix q = sharedLayer();
        Map<String, PackedLayers.Part> m = partMap("m.x", q);
        PackedLayers.Part book = PackedLayers.sharedCodebook("vq4j.shared.all.codebook", 4, 2,
                q.codebooks((Segment.Vector) q.segments().get(0), q.stages().get(0)));
        m.put(book.name(), book);
        String layout = PackedLayers.layoutJson(q);
        assertSameLayer(q, PackedLayers.read("m.x", layout, mapSource(m)));
        m.put(book.name(), flipped(book, 3));
        var e = assertThrows(IllegalArgumentException.class, () -> PackedLayers.read("m.x", layout, mapSource(m)));
        assertTrue(e.getMessage().startsWith("tensor 'vq4j.shared.all.codebook' fails its CRC32C check"),
                e.getMessage());
    }

    @Test
    void withoutVerificationTheBytesAreReadAsTheyAre() {
        PackedMatrix q = PackedLayersTest.layers().get(1);
        Map<String, PackedLayers.Part> m = partMap("x", q);
        m.put("x.codebook", flipped(m.get("x.codebook"), 1));
        PackedMatrix back = PackedLayers.read("x", PackedLayers.layoutJson(q), mapSource(m), false);
        assertFalse(Arrays.equals(q.dequantize(), back.dequantize()), "the flipped value is read");
    }

    @Test
    void formatOneStillReadsAndHasNothingToCompare(@TempDir Path dir) throws Exception {
        SafeTensorsWriter w = new SafeTensorsWriter();
        List<PackedMatrix> ls = PackedLayersTest.layers();
        for (int i = 0; i < ls.size(); i++) {
            w.metadata(PackedLayers.META_PREFIX + "l" + i, format1(PackedLayers.layoutJson(ls.get(i))));
            for (PackedLayers.Part p : PackedLayers.parts("l" + i, ls.get(i))) {
                w.addBytes(p.name(), p.dtype(), p.shape(), p.bytes());
            }
        }
        w.write(dir.resolve("old.safetensors"));
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("old.safetensors"))) {
            for (int i = 0; i < ls.size(); i++) {
                String layout = f.metadata().get(PackedLayers.META_PREFIX + "l" + i);
                assertEquals(1, PackedLayers.format(layout));
                assertSameLayer(ls.get(i), PackedLayers.read("l" + i, layout, PackedLayers.TensorSource.of(f)));
            }
        }
        // format 1 has no checksums: a flipped bit is read as it is (why format 2 exists)
        PackedMatrix q = ls.get(1);
        Map<String, PackedLayers.Part> m = partMap("x", q);
        m.put("x.codebook", flipped(m.get("x.codebook"), 1));
        PackedMatrix back = PackedLayers.read("x", format1(PackedLayers.layoutJson(q)), mapSource(m));
        assertFalse(Arrays.equals(q.dequantize(), back.dequantize()));
    }

    @Test
    void theChecksumFieldItselfIsChecked() throws Exception {
        PackedMatrix q = PackedLayersTest.layers().get(3);
        Map<String, PackedLayers.Part> m = partMap("x", q);
        String layout = PackedLayers.layoutJson(q);
        ObjectNode none = (ObjectNode) JSON.readTree(layout);
        none.remove(PackedLayers.CRC_KEY);
        assertRefused(none.toString(), m, "layout of 'x' (format 2) lacks its 'crc32c' object");
        ObjectNode missing = (ObjectNode) JSON.readTree(layout);
        ((ObjectNode) missing.get(PackedLayers.CRC_KEY)).remove("block_scales");
        assertRefused(missing.toString(), m, "layout of 'x': crc32c has no checksum for tensor 'x.block_scales'");
        ObjectNode extra = (ObjectNode) JSON.readTree(layout);
        ((ObjectNode) extra.get(PackedLayers.CRC_KEY)).put("perm", "00000000");
        assertRefused(extra.toString(), m, "layout of 'x': crc32c names a tensor the layout does not use: 'perm'");
        ObjectNode notHex = (ObjectNode) JSON.readTree(layout);
        ((ObjectNode) notHex.get(PackedLayers.CRC_KEY)).put("indices", "12345");
        assertRefused(notHex.toString(), m, "layout of 'x': crc32c of 'indices' is not 8 lower-case hex digits");
        ObjectNode old = (ObjectNode) JSON.readTree(layout);
        old.put("format", 1);
        assertRefused(old.toString(), m, "layout of 'x': format 1 has no 'crc32c'");
        old.put("format", 3);
        assertRefused(old.toString(), m, "layout of 'x' has unknown format 3 (this version reads 1..2)");
    }

    @Test
    void theLayoutCountedInTheTrueBitsIsTheOneWritten(@TempDir Path dir) throws Exception {
        PackedMatrix q = PackedLayersTest.layers().get(2);
        SafeTensorsWriter w = new SafeTensorsWriter();
        PackedLayers.write("model.layers.0.x", q, w);
        w.write(dir.resolve("a.safetensors"));
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("a.safetensors"))) {
            String written = f.metadata().get(PackedLayers.META_PREFIX + "model.layers.0.x");
            assertEquals(PackedLayers.layoutJson(q), written, "layoutJson(q) is the record write() stores");
            assertArrayEquals(PackedLayers.layoutJson(q).getBytes(StandardCharsets.UTF_8),
                    written.getBytes(StandardCharsets.UTF_8));
        }
    }

    private static void assertRefused(String layout, Map<String, PackedLayers.Part> m, String message) {
        var e = assertThrows(IllegalArgumentException.class, () -> PackedLayers.read("x", layout, mapSource(m)));
        assertTrue(e.getMessage().startsWith(message), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }
}
