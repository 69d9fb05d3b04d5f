package io.vq4j.pack;

import static io.vq4j.pack.PackedLayersTest.mapSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.FloatNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.Stage;
import io.vq4j.testing.Mutations;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fixed-seed corpus of mutations of the packed format (issue 21's fault suite): of whole
 * safetensors files holding every kind of packed layer, and of each layer's layout JSON. No
 * mutant may throw anything but the input error (the file reader's InputException, or the
 * layout reader's one-line IllegalArgumentException that the loaders turn into one), and no
 * accepted mutant may decode to anything other than what its bytes say: with the checksums
 * compared, exactly the original layer; unverified, the layer whose layout and tensors the
 * writer would write back byte for byte.
 */
class PackedFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SHARED = "vq4j.shared.all.codebook";

    /** Every encoding of the format, by layer name; the last uses a shared codebook. */
    private static Map<String, PackedMatrix> layers() {
        Map<String, PackedMatrix> out = new LinkedHashMap<>();
        List<PackedMatrix> ls = PackedLayersTest.layers();
        for (int i = 0; i < ls.size(); i++) {
            out.put("model.layers." + i + ".mlp.up_proj", ls.get(i));
        }
        out.put("model.layers.9.self_attn.q_proj", PackedChecksumTest.sharedLayer());
        return out;
    }

    private static PackedLayers.Part sharedBook(PackedMatrix q) {
        Segment.Vector v = (Segment.Vector) q.segments().get(0);
        Stage st = q.stages(v).get(0);
        return PackedLayers.sharedCodebook(SHARED, st.k(), v.dim(), q.codebooks(v, st));
    }

    /** The reader's refusals: one line naming a layout or a tensor. */
    private static void isInputError(IllegalArgumentException e, String what) {
        String m = e.getMessage();
        assertTrue(m != null && (m.startsWith("layout of '") || m.startsWith("tensor '")),
                what + ": not an input error of the reader: " + e);
        assertEquals(1, m.lines().count(), what + ": one line: " + m);
    }

    @Test
    void mutatedFilesAreRefusedOrReadAsWritten(@TempDir Path dir) throws Exception {
        Map<String, PackedMatrix> layers = layers();
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", "pt");
        layers.forEach((n, q) -> PackedLayers.write(n, q, w));
        PackedLayers.Part book = sharedBook(PackedChecksumTest.sharedLayer());
        w.addBytes(book.name(), book.dtype(), book.shape(), book.bytes());
        Path seedFile = dir.resolve("seed.safetensors");
        w.write(seedFile);
        byte[] seed = Files.readAllBytes(seedFile);
        Map<String, float[]> want = new LinkedHashMap<>();
        layers.forEach((n, q) -> want.put(n, q.dequantize()));

        SplittableRandom r = new SplittableRandom(21);
        Path file = dir.resolve("m.safetensors");
        int count = 1500;
        int fileRefused = 0;
        int layerRefused = 0;
        int layersRead = 0;
        for (int i = 0; i < count; i++) {
            byte[] m = Mutations.mutate(seed, r);
            Files.write(file, m);
            String what = "file mutant " + i;
            try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
                PackedLayers.TensorSource src = PackedLayers.TensorSource.of(f);
                for (Map.Entry<String, String> e : f.metadata().entrySet()) {
                    if (!e.getKey().startsWith(PackedLayers.META_PREFIX)) {
                        continue;
                    }
                    String name = e.getKey().substring(PackedLayers.META_PREFIX.length());
                    try {
                        PackedMatrix q = PackedLayers.read(name, e.getValue(), src);
                        float[] expected = want.get(name);
                        assertNotNull(expected, what + ": accepted a layer nobody wrote: '" + name + "'");
                        assertArrayEquals(expected, q.dequantize(), what + ": '" + name + "' decodes differently");
                        layersRead++;
                    } catch (IllegalArgumentException ex) {
                        isInputError(ex, what);
                        layerRefused++;
                    }
                }
            } catch (InputException e) {
                assertEquals(1, e.getMessage().lines().count(), what + ": one line: " + e.getMessage());
                fileRefused++;
            } catch (Throwable t) {
                fail(what + " threw " + t, t);
            }
        }
        // the corpus must reach the layers and see both outcomes there, or it tests nothing
        assertTrue(fileRefused > 0 && layerRefused > 0 && layersRead > 0,
                fileRefused + " files refused, " + layerRefused + " layers refused, " + layersRead + " read");
    }

    @Test
    void mutatedLayoutsAreRefusedOrReadAsTheySay() throws Exception {
        SplittableRandom r = new SplittableRandom(22);
        int accepted = 0;
        int checked = 0;
        int total = 0;
        for (Map.Entry<String, PackedMatrix> l : layers().entrySet()) {
            String name = l.getKey();
            PackedMatrix orig = l.getValue();
            Map<String, PackedLayers.Part> parts = PackedLayersTest.partMap(name, orig);
            if (orig.stages().stream().anyMatch(s -> s.sharedTensor() != null)) {
                PackedLayers.Part book = sharedBook(orig);
                parts.put(book.name(), book);
            }
            PackedLayers.TensorSource src = mapSource(parts);
            byte[] seed = PackedLayers.layoutJson(orig).getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < 500; i++, total++) {
                String layout = new String(Mutations.mutate(seed, r), StandardCharsets.UTF_8);
                String what = name + " layout mutant " + i + ": " + layout;
                for (boolean verify : new boolean[]{true, false}) {
                    try {
                        PackedMatrix q = PackedLayers.read(name, layout, src, verify);
                        if (verify) {
                            assertArrayEquals(orig.dequantize(), q.dequantize(), what + ": decodes differently");
                            checked++;
                        } else {
                            assertReadAsItSays(name, layout, q, parts, what);
                            accepted++;
                        }
                    } catch (IllegalArgumentException e) {
                        isInputError(e, what);
                    } catch (Throwable t) {
                        fail(what + " (verify " + verify + ") threw " + t, t);
                    }
                }
            }
        }
        assertTrue(accepted > 0 && accepted < total, accepted + " of " + total + " unverified mutants accepted");
        assertTrue(checked < accepted, "the layout's CRC32C refuses what reading unverified accepts: " + checked);
    }

    /**
     * An accepted layout and the tensors are exactly what the writer makes of the layer read: the
     * same layout (up to float rounding of the block-scale grid and its checksums) and the same bytes.
     */
    private static void assertReadAsItSays(String name, String layout, PackedMatrix q,
                                           Map<String, PackedLayers.Part> parts, String what) throws Exception {
        assertEquals(canonical(JSON.readTree(layout)), canonical(JSON.readTree(PackedLayers.layoutJson(q))), what);
        List<String> seen = new ArrayList<>();
        for (PackedLayers.Part p : PackedLayers.parts(name, q)) {
            assertArrayEquals(parts.get(p.name()).bytes(), p.bytes(), what + ": " + p.name());
            seen.add(p.name());
        }
        for (Stage st : q.stages()) {
            if (st.sharedTensor() != null) {
                assertArrayEquals(parts.get(SHARED).bytes(), sharedBook(q).bytes(), what);
                seen.add(SHARED);
            }
        }
        assertEquals(parts.keySet().stream().sorted().toList(), seen.stream().sorted().toList(), what);
    }

    /**
     * The layout without its checksums and format, without the members that say what their
     * absence says (false flags, an empty method), every block-scale number as the float the
     * reader takes.
     */
    private static JsonNode canonical(JsonNode n) {
        if (n.isObject()) {
            ObjectNode o = JSON.createObjectNode();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String k = e.getKey();
                JsonNode v = e.getValue();
                boolean absent = k.equals(PackedLayers.CRC_KEY) || k.equals("format")
                        || List.of("perm", "norm", "symmetric").contains(k) && v.isBoolean() && !v.asBoolean()
                        || k.equals("method") && v.isTextual() && v.asText().isEmpty();
                if (absent) {
                    continue; // the same as not given
                }
                o.set(k, (k.equals("offset") || k.equals("step")) && v.isNumber()
                        ? FloatNode.valueOf((float) v.asDouble()) : canonical(v));
            }
            return o;
        }
        if (n.isArray()) {
            ArrayNode a = JSON.createArrayNode();
            n.forEach(x -> a.add(canonical(x)));
            return a;
        }
        return n.isFloatingPointNumber() ? FloatNode.valueOf((float) n.asDouble()) : n;
    }
}
