package io.vq4j.kernels.packed;

import static io.vq4j.kernels.packed.PackedLayout.SEG_BITS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_BLOCK_BITS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_BLOCK_CODES;
import static io.vq4j.kernels.packed.PackedLayout.SEG_BLOCK_COLS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_BLOCK_TABLE;
import static io.vq4j.kernels.packed.PackedLayout.SEG_CODES;
import static io.vq4j.kernels.packed.PackedLayout.SEG_DENSE_BITS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_DIM;
import static io.vq4j.kernels.packed.PackedLayout.SEG_FIELDS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_FIRST_STAGE;
import static io.vq4j.kernels.packed.PackedLayout.SEG_FROM;
import static io.vq4j.kernels.packed.PackedLayout.SEG_GROUP_COLS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_GROUP_ROWS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_GROUP_SIZE;
import static io.vq4j.kernels.packed.PackedLayout.SEG_KIND;
import static io.vq4j.kernels.packed.PackedLayout.SEG_SCALES;
import static io.vq4j.kernels.packed.PackedLayout.SEG_STAGE_COUNT;
import static io.vq4j.kernels.packed.PackedLayout.SEG_TO;
import static io.vq4j.kernels.packed.PackedLayout.SEG_VALUES;
import static io.vq4j.kernels.packed.PackedLayout.SEG_ZEROS;
import static io.vq4j.kernels.packed.PackedLayout.STAGE_CODEBOOKS;
import static io.vq4j.kernels.packed.PackedLayout.STAGE_FIELDS;
import static io.vq4j.kernels.packed.PackedLayout.STAGE_INDEX_BITS;
import static io.vq4j.kernels.packed.PackedLayout.STAGE_INDICES;
import static io.vq4j.kernels.packed.PackedLayout.STAGE_K;

import java.util.Arrays;
import java.util.List;

/**
 * A quantized matrix W (rows × cols): the packed layer. Every method builds one
 * ({@link #builder}), the packed format writes and reads it, and the kernels decode it from its
 * flat form: every layout of the quantizer (scalar codes with groups, vector codes along either
 * axis with any number of residual stages and codebook groups, block scales, outlier segments,
 * a column permutation, a per-column norm) as four arrays and two tables, so one kernel decodes
 * them all and a device copy is four buffers.
 *
 * <ul>
 *   <li>{@link #bytes()}: bit-packed codes and indices ({@link BitPacking} streams), each
 *       stream starting on a byte, the whole padded with 4 zero bytes so a kernel may read
 *       three bytes past any index;</li>
 *   <li>{@link #floats()}: scales, codebooks (already as the values they stand for),
 *       block-scale tables, norm scale and bias;</li>
 *   <li>{@link #ints()}: scalar zero points and the permutation;</li>
 *   <li>{@link #segmentTable()}: {@link PackedLayout#SEG_FIELDS} ints per column segment, and
 *       {@link #stageTable()}: {@link PackedLayout#STAGE_FIELDS} ints per codebook stage, both
 *       laid out as {@link PackedLayout} says; {@link #segments()} and {@link #stages()} are the
 *       same rows as records with named fields.</li>
 * </ul>
 * Built by a {@link PackedMatrixBuilder}; immutable once built (the arrays are handed out
 * uncopied, for the backends to upload: do not modify them). What only the packed file needs
 * (the method's name, roles, the symmetric flag, codebook formats and int8 scales,
 * shared-codebook names, the block-scale grid) is kept beside, in the records and in values
 * the device never sees.
 *
 * <p>{@link PackedReference} is the one decoding: W'[r, c] = norm(decode(r, c)) and
 * W[r, perm[c]] = W'[r, c]; every backend follows it, in the same float operations.
 */
public final class PackedMatrix {
    private final String method;
    private final int rows;
    private final int cols;
    private final List<Segment> segments;
    private final List<Stage> stages;
    private final int[] segmentTable;
    private final int[] stageTable;
    private final byte[] bytes;
    private final float[] floats;
    private final int[] ints;
    private final float[] hostFloats;
    private final int permOffset;
    private final int normScaleOffset;
    private final int normBiasOffset;

    PackedMatrix(String method, int rows, int cols, List<Segment> segments, List<Stage> stages, byte[] bytes,
                 float[] floats, int[] ints, float[] hostFloats, int permOffset, int normScaleOffset,
                 int normBiasOffset) {
        this.method = method;
        this.rows = rows;
        this.cols = cols;
        this.segments = List.copyOf(segments);
        this.stages = List.copyOf(stages);
        this.segmentTable = new int[SEG_FIELDS * segments.size()];
        for (int s = 0; s < segments.size(); s++) {
            writeSegment(segments.get(s), segmentTable, s * SEG_FIELDS);
        }
        this.stageTable = new int[STAGE_FIELDS * stages.size()];
        for (int t = 0; t < stages.size(); t++) {
            writeStage(stages.get(t), stageTable, t * STAGE_FIELDS);
        }
        this.bytes = bytes;
        this.floats = floats;
        this.ints = ints;
        this.hostFloats = hostFloats;
        this.permOffset = permOffset;
        this.normScaleOffset = normScaleOffset;
        this.normBiasOffset = normBiasOffset;
    }

    /** The method that produced the layer ("rtn", "gptq", "kmeans", "gptvq", "vptq"), or "". */
    public String method() {
        return method;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    /** Number of weights, rows × cols. */
    public long weights() {
        return (long) rows * cols;
    }

    /** The column segments, covering [0, cols) in order. */
    public List<Segment> segments() {
        return segments;
    }

    public int segmentCount() {
        return segments.size();
    }

    /** Every codebook stage, in table order. */
    public List<Stage> stages() {
        return stages;
    }

    /** The stages of a vector segment, in the order they are summed. */
    public List<Stage> stages(Segment.Vector v) {
        return stages.subList(v.firstStage(), v.firstStage() + v.stageCount());
    }

    /** The segment table (not copied: do not modify). */
    public int[] segmentTable() {
        return segmentTable;
    }

    /** The stage table (not copied: do not modify). */
    public int[] stageTable() {
        return stageTable;
    }

    /** Packed codes and indices (not copied: do not modify). */
    public byte[] bytes() {
        return bytes;
    }

    /** Scales, codebooks, tables and norm (not copied: do not modify). */
    public float[] floats() {
        return floats;
    }

    /** Zero points and permutation (not copied: do not modify). */
    public int[] ints() {
        return ints;
    }

    /** Offset of the permutation in {@link #ints()}, or −1 for the identity. */
    public int permOffset() {
        return permOffset;
    }

    /** Offset of the per-column norm scale in {@link #floats()}, or −1 for none. */
    public int normScaleOffset() {
        return normScaleOffset;
    }

    /** Offset of the per-column norm bias in {@link #floats()}, or −1 for none. */
    public int normBiasOffset() {
        return normBiasOffset;
    }

    /** Bytes a device copy takes: the four arrays and the two tables. */
    public long deviceBytes() {
        return bytes.length + 4L * (floats.length + ints.length + segmentTable.length + stageTable.length);
    }

    /** W (rows × cols, row-major), decoded by {@link PackedReference#dequant}. */
    public float[] dequantize() {
        float[] w = new float[Math.multiplyExact(rows, cols)];
        PackedReference.dequant(this, w);
        return w;
    }

    /** perm[c] is the original column stored at position c; null for the identity. A copy. */
    public int[] perm() {
        return permOffset < 0 ? null : Arrays.copyOfRange(ints, permOffset, permOffset + cols);
    }

    /** The per-column norm scale, or null. A copy. */
    public float[] normScale() {
        return normScaleOffset < 0 ? null : Arrays.copyOfRange(floats, normScaleOffset, normScaleOffset + cols);
    }

    /** The per-column norm bias, or null. A copy. */
    public float[] normBias() {
        return normBiasOffset < 0 ? null : Arrays.copyOfRange(floats, normBiasOffset, normBiasOffset + cols);
    }

    /** A scalar segment's codes, rows × width. */
    public int[] codes(Segment.Scalar s) {
        return BitPacking.unpack(bytes, s.codesAt(), Math.multiplyExact(rows, s.width()), s.bits());
    }

    /** A scalar segment's scales, rows × groups. */
    public float[] scales(Segment.Scalar s) {
        return Arrays.copyOfRange(floats, s.scalesAt(), s.scalesAt() + rows * s.groups());
    }

    /** A scalar segment's zero points, rows × groups. */
    public int[] zeros(Segment.Scalar s) {
        return Arrays.copyOfRange(ints, s.zerosAt(), s.zerosAt() + rows * s.groups());
    }

    /** A stage's indices, one per vector of its segment. */
    public int[] indices(Segment.Vector v, Stage st) {
        return BitPacking.unpack(bytes, st.indicesAt(), v.vectors(rows), st.indexBits());
    }

    /** A stage's codebooks, groups × k × dim values (int8 codebooks as code · scale). */
    public float[] codebooks(Segment.Vector v, Stage st) {
        return Arrays.copyOfRange(floats, st.codebooksAt(), st.codebooksAt() + v.groups(rows) * st.k() * v.dim());
    }

    /** An int8 stage's scales, one per codebook group; null for fp16. */
    public float[] codebookScales(Segment.Vector v, Stage st) {
        return st.codebookScalesAt() < 0 ? null
                : Arrays.copyOfRange(hostFloats, st.codebookScalesAt(), st.codebookScalesAt() + v.groups(rows));
    }

    /** A vector segment's block-scale codes, rows × ceil(width / blockCols); null without block scales. */
    public int[] blockScaleCodes(Segment.Vector v) {
        BlockScales b = v.blockScales();
        return b == null ? null
                : BitPacking.unpack(bytes, b.codesAt(), rows * ((v.width() + b.blockCols() - 1) / b.blockCols()),
                b.bits());
    }

    /** A vector segment's block scales as a builder takes them; null without block scales. */
    public BlockScaleValues blockScaleValues(Segment.Vector v) {
        BlockScales b = v.blockScales();
        return b == null ? null
                : new BlockScaleValues(b.blockCols(), b.bits(), b.offset(), b.step(), blockScaleCodes(v));
    }

    /** W (rows × cols, row-major) as one dense segment: fp32, or rounded to fp16 (nearest even). */
    public static PackedMatrix dense(float[] w, int rows, int cols, boolean half) {
        return builder(rows, cols).dense(0, cols, w, half).build();
    }

    /** A builder of a rows × cols packed matrix: segments in column order, then perm and norm. */
    public static PackedMatrixBuilder builder(int rows, int cols) {
        return new PackedMatrixBuilder(rows, cols);
    }

    /** A segment as its table row, laid out as {@link PackedLayout} says. */
    private static void writeSegment(Segment segment, int[] table, int at) {
        table[at + SEG_KIND] = segment.kind();
        table[at + SEG_FROM] = segment.from();
        table[at + SEG_TO] = segment.to();
        switch (segment) {
            case Segment.Scalar s -> {
                table[at + SEG_BITS] = s.bits();
                table[at + SEG_GROUP_SIZE] = s.groupSize();
                table[at + SEG_CODES] = s.codesAt();
                table[at + SEG_SCALES] = s.scalesAt();
                table[at + SEG_ZEROS] = s.zerosAt();
            }
            case Segment.Vector v -> {
                table[at + SEG_DIM] = v.dim();
                table[at + SEG_GROUP_ROWS] = v.groupRows();
                table[at + SEG_GROUP_COLS] = v.groupCols();
                table[at + SEG_FIRST_STAGE] = v.firstStage();
                table[at + SEG_STAGE_COUNT] = v.stageCount();
                BlockScales b = v.blockScales();
                if (b != null) {
                    table[at + SEG_BLOCK_COLS] = b.blockCols();
                    table[at + SEG_BLOCK_BITS] = b.bits();
                    table[at + SEG_BLOCK_CODES] = b.codesAt();
                    table[at + SEG_BLOCK_TABLE] = b.tableAt();
                }
            }
            case Segment.Dense d -> {
                table[at + SEG_DENSE_BITS] = d.bits();
                table[at + SEG_VALUES] = d.valuesAt();
            }
        }
    }

    /** A stage as its table row. */
    private static void writeStage(Stage st, int[] table, int at) {
        table[at + STAGE_K] = st.k();
        table[at + STAGE_INDEX_BITS] = st.indexBits();
        table[at + STAGE_INDICES] = st.indicesAt();
        table[at + STAGE_CODEBOOKS] = st.codebooksAt();
    }
}
