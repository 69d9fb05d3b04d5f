package io.vq4j.kernels.packed;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A quantized matrix W (rows × cols) in the flat form the kernels read: every packed layout
 * of the quantizer (scalar codes with groups, vector codes along either axis with any number
 * of residual stages and codebook groups, block scales, outlier segments, a column
 * permutation, a per-column norm) as four arrays and two tables, so one kernel decodes them
 * all and a device copy is four buffers.
 *
 * <ul>
 *   <li>{@link #bytes()}: bit-packed codes and indices ({@link BitPacking} streams), each
 *       stream starting on a byte, the whole padded with 4 zero bytes so a kernel may read
 *       three bytes past any index;</li>
 *   <li>{@link #floats()}: scales, codebooks (already as the values they stand for),
 *       block-scale tables, norm scale and bias;</li>
 *   <li>{@link #ints()}: scalar zero points and the permutation;</li>
 *   <li>{@link #segments()}: {@link #SEG_FIELDS} ints per column segment, and
 *       {@link #stages()}: {@link #STAGE_FIELDS} ints per codebook stage.</li>
 * </ul>
 *
 * <p>The value at (r, c) is decoded exactly as the quantizer's reference dequantizer does,
 * in the same float operations, so a backend that follows {@link PackedReference} produces
 * the same bits: W'[r, c] = norm(decode(r, c)) and W[r, perm[c]] = W'[r, c].
 */
public final class PackedMatrix {
    /** Segment kinds. */
    public static final int SCALAR = 0;
    public static final int VECTOR_IN = 1;
    public static final int VECTOR_OUT = 2;
    /** Plain weights, fp32 (in floats) or fp16 (in bytes): the dense baseline on the same kernels. */
    public static final int DENSE = 3;

    /**
     * Segment table layout. Scalar: kind, from, to, bits, groupSize, codes (byte offset),
     * scales (float offset), zeros (int offset), then 0s. Vector: kind, from, to, dim,
     * groupRows, groupCols, first stage, stage count, blockCols (0: no block scales),
     * block-scale code bits, block-scale codes (byte offset), block-scale table (float offset).
     * Dense: kind, from, to, bits (32 or 16), values (float offset for 32, even byte offset for
     * 16: little-endian IEEE half), then 0s; values row-major, rows × (to − from).
     */
    public static final int SEG_FIELDS = 12;
    /** Stage table layout: k, index bits, indices (byte offset), codebooks (float offset). */
    public static final int STAGE_FIELDS = 4;

    private final int rows;
    private final int cols;
    private final int[] segments;
    private final int[] stages;
    private final byte[] bytes;
    private final float[] floats;
    private final int[] ints;
    private final int permOffset;
    private final int normScaleOffset;
    private final int normBiasOffset;

    private PackedMatrix(Builder b) {
        this.rows = b.rows;
        this.cols = b.cols;
        this.segments = b.seg.stream().flatMapToInt(Arrays::stream).toArray();
        this.stages = b.stage.stream().flatMapToInt(Arrays::stream).toArray();
        b.bytes.write(new byte[4], 0, 4);
        this.bytes = b.bytes.toByteArray();
        this.floats = Arrays.copyOf(b.floats, b.nf);
        this.ints = Arrays.copyOf(b.ints, b.ni);
        this.permOffset = b.permOffset;
        this.normScaleOffset = b.normScaleOffset;
        this.normBiasOffset = b.normBiasOffset;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public int segmentCount() {
        return segments.length / SEG_FIELDS;
    }

    /** The segment table (not copied: do not modify). */
    public int[] segments() {
        return segments;
    }

    /** The stage table (not copied: do not modify). */
    public int[] stages() {
        return stages;
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
        return bytes.length + 4L * (floats.length + ints.length + segments.length + stages.length);
    }

    /** W (rows × cols, row-major) as one dense segment: fp32, or rounded to fp16 (nearest even). */
    public static PackedMatrix dense(float[] w, int rows, int cols, boolean half) {
        return builder(rows, cols).dense(0, cols, w, half).build();
    }

    public static Builder builder(int rows, int cols) {
        return new Builder(rows, cols);
    }

    /** One codebook stage of a vector segment: codebooks are groups × k × dim values, one index per vector. */
    public record Stage(int k, float[] codebooks, int[] indices) {
    }

    /** Collects segments in column order; {@link #build()} checks that they cover every column. */
    public static final class Builder {
        private final int rows;
        private final int cols;
        private final List<int[]> seg = new ArrayList<>();
        private final List<int[]> stage = new ArrayList<>();
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private float[] floats = new float[64];
        private int nf;
        private int[] ints = new int[64];
        private int ni;
        private int permOffset = -1;
        private int normScaleOffset = -1;
        private int normBiasOffset = -1;
        private int covered;

        private Builder(int rows, int cols) {
            if (rows < 1 || cols < 1) {
                throw new IllegalArgumentException("a packed matrix needs rows and cols >= 1, got " + rows + "x" + cols);
            }
            this.rows = rows;
            this.cols = cols;
        }

        private int addFloats(float[] a, int count) {
            check(a.length >= count, "float array of " + a.length + " for " + count + " values");
            if (nf + count > floats.length) {
                floats = Arrays.copyOf(floats, Math.max(2 * floats.length, nf + count));
            }
            System.arraycopy(a, 0, floats, nf, count);
            nf += count;
            return nf - count;
        }

        private int addInts(int[] a, int count) {
            check(a.length >= count, "int array of " + a.length + " for " + count + " values");
            if (ni + count > ints.length) {
                ints = Arrays.copyOf(ints, Math.max(2 * ints.length, ni + count));
            }
            System.arraycopy(a, 0, ints, ni, count);
            ni += count;
            return ni - count;
        }

        private int addPacked(int[] values, int count, int width) {
            check(values.length >= count, "index array of " + values.length + " for " + count + " values");
            int at = bytes.size();
            byte[] p = BitPacking.pack(count == values.length ? values : Arrays.copyOf(values, count), width);
            bytes.write(p, 0, p.length);
            return at;
        }

        private void segment(int from, int to) {
            check(from == covered && to > from && to <= cols,
                    "segment [" + from + ", " + to + ") does not continue the columns covered so far (" + covered
                            + " of " + cols + ")");
            covered = to;
        }

        /**
         * Scalar codes over columns [from, to): w = scales[g] · (codes[r·width + c] − zeros[g]),
         * g = r · groups + c / groupSize, with c counted from the segment's first column.
         */
        public Builder scalar(int from, int to, int bits, int groupSize, int[] codes, float[] scales, int[] zeros) {
            segment(from, to);
            int width = to - from;
            check(bits >= 1 && bits <= 16 && groupSize >= 1, "scalar bits " + bits + ", group " + groupSize);
            int groups = (width + groupSize - 1) / groupSize;
            int codesAt = addPacked(codes, rows * width, bits);
            int scalesAt = addFloats(scales, rows * groups);
            int zerosAt = addInts(zeros, rows * groups);
            seg.add(new int[]{SCALAR, from, to, bits, groupSize, codesAt, scalesAt, zerosAt, 0, 0, 0, 0});
            return this;
        }

        /**
         * Vector codes over columns [from, to): sub-vectors of dim weights along the input axis
         * (d consecutive columns, numbered row-major) or the output axis (d consecutive rows,
         * numbered column-major); codebook groups of groupRows × groupCols weights numbered
         * row-major; stages summed in order; then, with blockCols &gt; 0, each weight multiplied
         * by blockScaleTable[code] of its row and run of blockCols columns.
         */
        public Builder vector(int from, int to, boolean outputAxis, int dim, int groupRows, int groupCols,
                              List<Stage> stageList, int blockCols, int blockScaleBits, float[] blockScaleTable,
                              int[] blockScaleCodes) {
            segment(from, to);
            int width = to - from;
            check(dim >= 1 && dim <= 16, "vector dim " + dim + " outside 1..16");
            check(outputAxis ? rows % dim == 0 : width % dim == 0,
                    "dim " + dim + " does not divide the " + (outputAxis ? rows + " rows" : width + " columns"));
            check(groupRows >= 1 && groupCols >= 1 && !stageList.isEmpty(), "vector groups or stages");
            int groups = ((rows + groupRows - 1) / groupRows) * ((width + groupCols - 1) / groupCols);
            int vectors = outputAxis ? rows / dim * width : rows * (width / dim);
            int first = stage.size();
            for (Stage s : stageList) {
                check(s.k() >= 1 && s.k() <= 65536, "k = " + s.k() + " outside 1..65536");
                int bits = Math.max(1, 32 - Integer.numberOfLeadingZeros(s.k() - 1));
                int idxAt = addPacked(s.indices(), vectors, bits);
                int cbAt = addFloats(s.codebooks(), groups * s.k() * dim);
                stage.add(new int[]{s.k(), bits, idxAt, cbAt});
            }
            int bsCodes = 0;
            int bsTable = 0;
            if (blockCols > 0) {
                check(blockScaleBits >= 1 && blockScaleBits <= 16 && blockScaleTable.length >= 1 << blockScaleBits,
                        "block scales of " + blockScaleBits + " bits need a table of " + (1 << blockScaleBits));
                bsCodes = addPacked(blockScaleCodes, rows * ((width + blockCols - 1) / blockCols), blockScaleBits);
                bsTable = addFloats(blockScaleTable, 1 << blockScaleBits);
            }
            seg.add(new int[]{outputAxis ? VECTOR_OUT : VECTOR_IN, from, to, dim, groupRows, groupCols, first,
                    stageList.size(), Math.max(0, blockCols), blockScaleBits, bsCodes, bsTable});
            return this;
        }

        /**
         * Plain weights over columns [from, to): values[r · (to − from) + c], kept as fp32 or
         * rounded to fp16.
         */
        public Builder dense(int from, int to, float[] values, boolean half) {
            segment(from, to);
            int count = Math.multiplyExact(rows, to - from);
            check(values.length >= count, "dense values: " + values.length + " for " + count);
            int at;
            if (half) {
                if (bytes.size() % 2 != 0) {
                    bytes.write(0); // halves start on an even byte
                }
                at = bytes.size();
                byte[] h = new byte[2 * count];
                for (int i = 0; i < count; i++) {
                    short v = Float.floatToFloat16(values[i]);
                    h[2 * i] = (byte) v;
                    h[2 * i + 1] = (byte) (v >>> 8);
                }
                bytes.write(h, 0, h.length);
            } else {
                at = addFloats(values, count);
            }
            seg.add(new int[]{DENSE, from, to, half ? 16 : 32, at, 0, 0, 0, 0, 0, 0, 0});
            return this;
        }

        /** perm[c] is the original column stored at position c. */
        public Builder permutation(int[] perm) {
            check(perm.length == cols, "perm of " + perm.length + " for " + cols + " columns");
            boolean[] seen = new boolean[cols];
            for (int p : perm) {
                check(p >= 0 && p < cols && !seen[p], "perm is not a permutation of 0.." + (cols - 1));
                seen[p] = true;
            }
            permOffset = addInts(perm, cols);
            return this;
        }

        /** W'[r, c] = W''[r, c] · scale[c] + bias[c]. */
        public Builder norm(float[] scale, float[] bias) {
            check(scale.length == cols && bias.length == cols, "norm needs a scale and a bias per column");
            normScaleOffset = addFloats(scale, cols);
            normBiasOffset = addFloats(bias, cols);
            return this;
        }

        public PackedMatrix build() {
            check(covered == cols, "segments cover " + covered + " of " + cols + " columns");
            return new PackedMatrix(this);
        }

        private static void check(boolean ok, String what) {
            if (!ok) {
                throw new IllegalArgumentException(what);
            }
        }
    }
}
