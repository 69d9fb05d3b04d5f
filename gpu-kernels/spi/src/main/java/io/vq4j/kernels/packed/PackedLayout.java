package io.vq4j.kernels.packed;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.Collectors;

/**
 * The one table of the packed layout's field offsets and segment kinds: {@link PackedMatrix}
 * writes its segment and stage tables with these offsets, the Java kernels (TornadoVM) read
 * them through these constants, and vq.cl gets them as {@code #define}s ({@link #defines()},
 * added to the kernel source by {@code KernelSource}), so no reader spells an offset as a
 * number.
 *
 * <p>A segment row has {@link #SEG_FIELDS} ints: kind, from, to (columns [from, to) of the
 * stored matrix), then per kind
 * <ul>
 *   <li>scalar: bits, group size, codes (byte offset), scales (float offset), zero points
 *       (int offset), then 0s;</li>
 *   <li>vector (along the input or the output axis): dim, group rows, group columns, first
 *       stage, stage count, block columns (0: no block scales), block-scale code bits,
 *       block-scale codes (byte offset), block-scale table (float offset);</li>
 *   <li>dense: bits (32 or 16), values (float offset for 32, even byte offset for 16), then 0s.</li>
 * </ul>
 * A stage row has {@link #STAGE_FIELDS} ints: k, index bits, indices (byte offset), codebooks
 * (float offset).
 */
public final class PackedLayout {
    /** Ints per segment row. */
    public static final int SEG_FIELDS = 12;
    /** Ints per stage row. */
    public static final int STAGE_FIELDS = 4;

    /** Segment kind: scalar codes with per-row groups. */
    public static final int SEG_SCALAR = 0;
    /** Segment kind: sub-vectors of d consecutive columns of a row. */
    public static final int SEG_VECTOR_IN = 1;
    /** Segment kind: sub-vectors of d consecutive rows of a column. */
    public static final int SEG_VECTOR_OUT = 2;
    /** Segment kind: plain fp32 or fp16 weights (the dense baseline on the same kernels). */
    public static final int SEG_DENSE = 3;

    /** Every kind: the kind, the first column, the column after the last. */
    public static final int SEG_KIND = 0;
    public static final int SEG_FROM = 1;
    public static final int SEG_TO = 2;

    /** Scalar segment fields. */
    public static final int SEG_BITS = 3;
    public static final int SEG_GROUP_SIZE = 4;
    public static final int SEG_CODES = 5;
    public static final int SEG_SCALES = 6;
    public static final int SEG_ZEROS = 7;

    /** Vector segment fields. */
    public static final int SEG_DIM = 3;
    public static final int SEG_GROUP_ROWS = 4;
    public static final int SEG_GROUP_COLS = 5;
    public static final int SEG_FIRST_STAGE = 6;
    public static final int SEG_STAGE_COUNT = 7;
    public static final int SEG_BLOCK_COLS = 8;
    public static final int SEG_BLOCK_BITS = 9;
    public static final int SEG_BLOCK_CODES = 10;
    public static final int SEG_BLOCK_TABLE = 11;

    /** Dense segment fields. */
    public static final int SEG_DENSE_BITS = 3;
    public static final int SEG_VALUES = 4;

    /** Stage fields. */
    public static final int STAGE_K = 0;
    public static final int STAGE_INDEX_BITS = 1;
    public static final int STAGE_INDICES = 2;
    public static final int STAGE_CODEBOOKS = 3;

    private static final String DEFINES = Arrays.stream(PackedLayout.class.getDeclaredFields())
            .filter(f -> f.getType() == int.class && Modifier.isPublic(f.getModifiers())
                    && Modifier.isStatic(f.getModifiers()) && Modifier.isFinal(f.getModifiers()))
            .sorted(Comparator.comparing(Field::getName))
            .map(f -> "#define " + f.getName() + " " + value(f) + "\n")
            .collect(Collectors.joining());

    private PackedLayout() {
    }

    /** Every constant of this table as a C {@code #define}, one a line, sorted by name. */
    public static String defines() {
        return DEFINES;
    }

    private static int value(Field f) {
        try {
            return f.getInt(null);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("packed layout constant " + f.getName() + " cannot be read", e);
        }
    }
}
