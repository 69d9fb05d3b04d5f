package io.vq4j.kernels.packed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.kernels.KernelSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The packed layout's one constant table: vq.cl reads every segment and stage field and every
 * kind by the names {@link PackedLayout} defines (no bare number), the kernel source gets
 * those names from the generated prelude, and the tables a matrix writes are its records.
 */
class PackedLayoutTest {
    /** An index into a segment or stage row (o, so) or table (seg, st), and a kind compared to a number. */
    private static final Pattern ROW_INDEX = Pattern.compile("\\b(o|so|seg|st)\\s*\\[([^\\]]*)\\]");
    private static final Pattern KIND_LITERAL = Pattern.compile("\\bkind\\s*(==|!=)\\s*\\d");
    private static final Pattern NUMBER = Pattern.compile("\\b\\d+\\b");
    private static final Pattern LAYOUT_NAME = Pattern.compile("\\b(SEG|STAGE)_[A-Z_]+\\b");

    /** The places where a kernel source reads a packed table field or kind by number. */
    static List<String> bareNumbers(String source) {
        List<String> found = new ArrayList<>();
        String[] lines = source.split("\n");
        for (int i = 0; i < lines.length; i++) {
            Matcher m = ROW_INDEX.matcher(lines[i]);
            while (m.find()) {
                if (NUMBER.matcher(m.group(2)).find()) {
                    found.add("line " + (i + 1) + ": " + m.group());
                }
            }
            Matcher k = KIND_LITERAL.matcher(lines[i]);
            while (k.find()) {
                found.add("line " + (i + 1) + ": " + k.group());
            }
        }
        return found;
    }

    @Test
    void vqClNamesEveryFieldOffsetAndKind() {
        String body = KernelSource.body();
        assertEquals(List.of(), bareNumbers(body), "vq.cl reads the packed tables by PackedLayout's names");
        // the check itself catches the old forms
        assertEquals(4, bareNumbers("o[11] + so[2]\nseg[s * SEG_FIELDS + 2]\nif (kind == 3) {").size());
        assertEquals(List.of(), bareNumbers("o[SEG_BLOCK_TABLE] + so[STAGE_K]\nif (kind == SEG_DENSE) {"));
    }

    @Test
    void theKernelSourceGetsTheNamesFromTheGeneratedTable() {
        String body = KernelSource.body();
        assertFalse(Pattern.compile("#define\\s+(SEG|STAGE)_").matcher(body).find(),
                "vq.cl defines no layout constant of its own");
        Set<String> used = new TreeSet<>();
        Matcher m = LAYOUT_NAME.matcher(body);
        while (m.find()) {
            used.add(m.group());
        }
        String defines = PackedLayout.defines();
        for (String name : used) {
            assertTrue(defines.contains("#define " + name + " "), name + " is used by vq.cl but not defined");
        }
        assertTrue(used.contains("SEG_BLOCK_TABLE") && used.contains("SEG_DENSE"), used.toString());
        assertTrue(defines.contains("#define SEG_FIELDS " + PackedLayout.SEG_FIELDS + "\n"));
        assertTrue(defines.contains("#define SEG_DENSE " + PackedLayout.SEG_DENSE + "\n"));
        assertTrue(KernelSource.opencl(false, 256).contains(defines));
        assertTrue(KernelSource.cuda(256).contains(defines));
    }

    @Test
    void tablesAreTheRecordsAtTheNamedOffsets() {
        float[] cb = {1, 2, -3, 4};
        PackedMatrix m = PackedMatrix.builder(2, 8).method("t")
                .scalar("", 0, 2, 3, 2, true, new int[]{1, 2, 3, 4}, new float[]{0.5f, 0.25f}, new int[]{4, 4})
                .vector("outlier_", 2, 6, Axis.IN, 2, 2, 4, List.of(new StageValues(2, cb, new int[]{0, 1, 1, 0}),
                        new StageValues(3, CodebookFormat.INT8, new float[]{2, 4, 6, 8, 10, 12}, new float[]{2},
                                new int[]{2, 1, 0, 2})), new BlockScaleValues(4, 2, -1f, 0.5f, new int[]{3, 1}))
                .dense(6, 8, new float[]{1, 2, 3, 4}, true)
                .build();
        int[] seg = m.segmentTable();
        int[] st = m.stageTable();
        assertEquals(3 * PackedLayout.SEG_FIELDS, seg.length);
        assertEquals(2 * PackedLayout.STAGE_FIELDS, st.length);
        Segment.Scalar s = (Segment.Scalar) m.segments().get(0);
        assertArrayEquals(new int[]{PackedLayout.SEG_SCALAR, 0, 2, 3, 2, s.codesAt(), s.scalesAt(), s.zerosAt(),
                0, 0, 0, 0}, Arrays.copyOfRange(seg, 0, 12));
        Segment.Vector v = (Segment.Vector) m.segments().get(1);
        int o = PackedLayout.SEG_FIELDS;
        assertEquals(PackedLayout.SEG_VECTOR_IN, seg[o + PackedLayout.SEG_KIND]);
        assertEquals(2, seg[o + PackedLayout.SEG_FROM]);
        assertEquals(6, seg[o + PackedLayout.SEG_TO]);
        assertEquals(2, seg[o + PackedLayout.SEG_DIM]);
        assertEquals(2, seg[o + PackedLayout.SEG_GROUP_ROWS]);
        assertEquals(4, seg[o + PackedLayout.SEG_GROUP_COLS]);
        assertEquals(0, seg[o + PackedLayout.SEG_FIRST_STAGE]);
        assertEquals(2, seg[o + PackedLayout.SEG_STAGE_COUNT]);
        assertEquals(4, seg[o + PackedLayout.SEG_BLOCK_COLS]);
        assertEquals(2, seg[o + PackedLayout.SEG_BLOCK_BITS]);
        assertEquals(v.blockScales().codesAt(), seg[o + PackedLayout.SEG_BLOCK_CODES]);
        assertEquals(v.blockScales().tableAt(), seg[o + PackedLayout.SEG_BLOCK_TABLE]);
        Stage second = m.stages(v).get(1);
        assertArrayEquals(new int[]{3, 2, second.indicesAt(), second.codebooksAt()},
                Arrays.copyOfRange(st, 4, 8));
        Segment.Dense d = (Segment.Dense) m.segments().get(2);
        o = 2 * PackedLayout.SEG_FIELDS;
        assertEquals(PackedLayout.SEG_DENSE, seg[o + PackedLayout.SEG_KIND]);
        assertEquals(16, seg[o + PackedLayout.SEG_DENSE_BITS]);
        assertEquals(d.valuesAt(), seg[o + PackedLayout.SEG_VALUES]);
        // what the records and the host-only values keep for the packed file
        assertEquals("t", m.method());
        assertTrue(s.symmetric());
        assertEquals("outlier_", v.role());
        assertArrayEquals(new int[]{1, 2, 3, 4}, m.codes(s));
        assertArrayEquals(new int[]{2, 1, 0, 2}, m.indices(v, second));
        assertArrayEquals(new float[]{2}, m.codebookScales(v, second));
        assertArrayEquals(new int[]{3, 1}, m.blockScaleCodes(v));
        assertEquals(CodebookFormat.INT8, second.format());
        assertEquals(2, m.blockScaleValues(v).bits());
        assertEquals(-1f, m.blockScaleValues(v).offset());
        // the int8 scales stay on the host: the device copy is the four arrays and two tables
        assertEquals(m.bytes().length + 4L * (m.floats().length + m.ints().length + seg.length + st.length),
                m.deviceBytes());
    }
}
