package io.vq4j.pack;

import static io.vq4j.pack.PackedLayersTest.mapSource;
import static io.vq4j.pack.PackedLayersTest.partMap;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.kernels.packed.PackedMatrix;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Every field of a layer's layout has its range checked (issue 21 items 12 and 15): zero,
 * negative, overflowing, fractional, mistyped and unknown values are each one line naming the
 * layer and the field — not an ArithmeticException, not a value read as another (k = 16.7 as
 * 16, codebook "f8" as f16), not a field ignored (index_bits).
 */
class LayoutFieldsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<PackedMatrix> LAYERS = PackedLayersTest.layers();
    /** 0: scalar; 3: vector, IN axis, int8 codebook, block scales; 4: perm, norm, two segments. */
    private static final int SCALAR = 0;
    private static final int BLOCKS = 3;
    private static final int PERM = 4;

    private static void refused(int layer, Consumer<ObjectNode> edit, String... parts) {
        PackedMatrix q = LAYERS.get(layer);
        Map<String, PackedLayers.Part> m = partMap("x", q);
        ObjectNode o;
        try {
            o = (ObjectNode) JSON.readTree(PackedLayers.layoutJson(q));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        edit.accept(o);
        try {
            // unverified: the edit changes the layout's own CRC32C, which would fail first
            PackedLayers.read("x", o.toString(), mapSource(m), false);
            fail("accepted: " + o);
        } catch (IllegalArgumentException e) {
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
            assertTrue(e.getMessage().startsWith("layout of 'x'"), e.getMessage());
            for (String p : parts) {
                assertTrue(e.getMessage().contains(p), "'" + p + "' in: " + e.getMessage());
            }
        }
    }

    private static ObjectNode seg(ObjectNode o, int i) {
        return (ObjectNode) o.get("segments").get(i);
    }

    private static ObjectNode stage(ObjectNode o) {
        return (ObjectNode) seg(o, 0).get("stages").get(0);
    }

    private static ObjectNode blocks(ObjectNode o) {
        return (ObjectNode) seg(o, 0).get("block_scales");
    }

    @Test
    void theShapeIsPositiveAndFitsInAnInt() {
        refused(SCALAR, o -> o.put("rows", 0), "'rows' must be an integer in 1..", "got 0");
        refused(SCALAR, o -> o.put("cols", -20), "'cols'", "got -20");
        refused(SCALAR, o -> o.put("rows", 1L << 31), "'rows'", "got 2147483648");
        refused(SCALAR, o -> o.put("rows", 12.5), "'rows'", "got 12.5");
        refused(SCALAR, o -> o.put("rows", "12"), "'rows'");
        refused(SCALAR, o -> o.put("rows", 65536).put("cols", 65536), "rows x cols = 65536 x 65536");
        refused(SCALAR, o -> o.remove("cols"), "'cols'", "got nothing");
    }

    @Test
    void theFormatFlagsAndSegmentsAreTyped() {
        refused(SCALAR, o -> o.put("format", "2"), "unknown format \"2\"");
        refused(SCALAR, o -> o.put("format", 2.5), "unknown format 2.5");
        refused(PERM, o -> o.put("perm", "yes"), "'perm' must be true or false");
        refused(PERM, o -> o.put("norm", 1), "'norm' must be true or false");
        refused(SCALAR, o -> o.put("method", 7), "'method' must be a string");
        refused(SCALAR, o -> o.put("extra", 1), "unknown field 'extra'");
        refused(SCALAR, o -> o.putArray("segments"), "'segments' must be a non-empty array");
        refused(SCALAR, o -> seg(o, 0).put("to", 21), "'to' must be an integer in 0..20");
        refused(SCALAR, o -> seg(o, 0).put("from", -1), "'from'");
        refused(PERM, o -> seg(o, 1).put("from", 5), "segments must cover the columns in order");
        refused(SCALAR, o -> seg(o, 0).put("type", "dense"), "unknown segment type 'dense'");
        refused(SCALAR, o -> seg(o, 0).put("role", "inlier_"), "unknown segment role 'inlier_'");
        refused(SCALAR, o -> seg(o, 0).put("groupsize", 8), "a scalar segment has an unknown field 'groupsize'");
    }

    @Test
    void scalarBitsAndGroupSize() {
        refused(SCALAR, o -> seg(o, 0).put("bits", 0), "'bits' must be an integer in 1..16", "got 0");
        refused(SCALAR, o -> seg(o, 0).put("bits", 17), "'bits'", "got 17");
        refused(SCALAR, o -> seg(o, 0).put("group_size", 0), "'group_size'", "got 0");
        refused(SCALAR, o -> seg(o, 0).put("group_size", -1), "'group_size'", "got -1");
        refused(SCALAR, o -> seg(o, 0).put("group_size", 4294967304L), "'group_size'", "got 4294967304");
        refused(SCALAR, o -> seg(o, 0).put("symmetric", "no"), "'symmetric' must be true or false");
    }

    @Test
    void vectorDimGroupsAndAxis() {
        refused(BLOCKS, o -> seg(o, 0).put("dim", 0), "'dim' must be an integer in 1..16", "got 0");
        refused(BLOCKS, o -> seg(o, 0).put("dim", -2), "'dim'", "got -2");
        refused(BLOCKS, o -> seg(o, 0).put("dim", 17), "'dim'", "got 17");
        refused(BLOCKS, o -> seg(o, 0).put("dim", 3), "dim 3 does not divide the segment's 20 columns");
        refused(BLOCKS, o -> seg(o, 0).put("group_rows", 0), "'group_rows'", "got 0");
        refused(BLOCKS, o -> seg(o, 0).put("group_cols", 0), "'group_cols'", "got 0");
        refused(BLOCKS, o -> seg(o, 0).put("group_cols", -3), "'group_cols'", "got -3");
        refused(BLOCKS, o -> seg(o, 0).put("group_rows", 1L << 32), "'group_rows'", "got 4294967296");
        refused(BLOCKS, o -> seg(o, 0).put("axis", "sideways"), "unknown axis 'sideways'");
        refused(BLOCKS, o -> seg(o, 0).putArray("stages"), "'stages' of a vector segment must be a non-empty array");
    }

    @Test
    void stageKIndexBitsAndCodebookFormat() {
        refused(BLOCKS, o -> stage(o).put("k", 0), "'k' must be an integer in 1..65536", "got 0");
        refused(BLOCKS, o -> stage(o).put("k", 65537), "'k'", "got 65537");
        refused(BLOCKS, o -> stage(o).put("k", 16.7), "'k'", "got 16.7");
        refused(BLOCKS, o -> stage(o).put("index_bits", 5), "index_bits 5 of a 16-centroid stage must be 4");
        refused(BLOCKS, o -> stage(o).remove("index_bits"), "'index_bits'", "got nothing");
        refused(BLOCKS, o -> stage(o).put("codebook", "f8"), "codebook format 'f8' is neither f16 nor int8");
        refused(BLOCKS, o -> stage(o).remove("codebook"), "'codebook' must be a string");
        refused(BLOCKS, o -> stage(o).put("codebook_tensor", 5), "a shared codebook must be");
    }

    @Test
    void blockScales() {
        refused(BLOCKS, o -> blocks(o).put("block_cols", 0), "'block_cols'", "got 0");
        refused(BLOCKS, o -> blocks(o).put("block_cols", -8), "'block_cols'", "got -8");
        refused(BLOCKS, o -> blocks(o).put("bits", 0), "'bits'", "got 0");
        refused(BLOCKS, o -> blocks(o).put("bits", 17), "'bits'", "got 17");
        refused(BLOCKS, o -> blocks(o).put("offset", 1e300), "'offset' must be a finite number");
        refused(BLOCKS, o -> blocks(o).put("step", "0.25"), "'step' must be a finite number");
        refused(BLOCKS, o -> blocks(o).put("step", 30), "give a non-finite scale");
        refused(BLOCKS, o -> blocks(o).put("extra", 0), "block_scales has an unknown field 'extra'");
    }

    @Test
    void aKeyGivenTwiceIsRefused() {
        PackedMatrix q = LAYERS.get(SCALAR);
        String layout = PackedLayers.layoutJson(q).replaceFirst("\\{", "{\"rows\":12,");
        try {
            PackedLayers.read("x", layout, mapSource(partMap("x", q)), false);
            fail("accepted a duplicate key");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().startsWith("layout of 'x' is not JSON: Duplicate field 'rows'"), e.getMessage());
        }
    }

    @Test
    void theUnchangedLayoutsRead() {
        for (PackedMatrix q : LAYERS) {
            PackedMatrix back = PackedLayers.read("x", PackedLayers.layoutJson(q), mapSource(partMap("x", q)));
            assertArrayEquals(q.dequantize(), back.dequantize());
        }
    }
}
