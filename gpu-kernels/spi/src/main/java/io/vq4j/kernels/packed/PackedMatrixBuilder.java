package io.vq4j.kernels.packed;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Builds a {@link PackedMatrix}: segments in column order (each packing its data into the
 * matrix's arrays as it comes), then the permutation and the norm; {@link #build()} checks that
 * the segments cover every column. Every quantization method and the packed-format reader build
 * their layers here.
 */
public final class PackedMatrixBuilder {
    private final int rows;
    private final int cols;
    private String method = "";
    private final List<Segment> segments = new ArrayList<>();
    private final List<Stage> stages = new ArrayList<>();
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private float[] floats = new float[64];
    private int nf;
    private int[] ints = new int[64];
    private int ni;
    private float[] hostFloats = new float[0];
    private int nh;
    private int permOffset = -1;
    private int normScaleOffset = -1;
    private int normBiasOffset = -1;
    private int covered;

    PackedMatrixBuilder(int rows, int cols) {
        if (rows < 1 || cols < 1) {
            throw new IllegalArgumentException("a packed matrix needs rows and cols >= 1, got " + rows + "x" + cols);
        }
        this.rows = rows;
        this.cols = cols;
    }

    /** The name of the method that produced the layer (kept for the packed file). */
    public PackedMatrixBuilder method(String name) {
        this.method = name;
        return this;
    }

    /**
     * Scalar codes over columns [from, to): w = scales[g] · (codes[r·width + c] − zeros[g]),
     * g = r · groups + c / groupSize, with c counted from the segment's first column.
     */
    public PackedMatrixBuilder scalar(String role, int from, int to, int bits, int groupSize, boolean symmetric,
                                      int[] codes, float[] scales, int[] zeros) {
        segment(from, to);
        int width = to - from;
        check(bits >= 1 && bits <= 16 && groupSize >= 1, "scalar bits " + bits + ", group " + groupSize);
        int groups = (width + groupSize - 1) / groupSize;
        int codesAt = addPacked(codes, rows * width, bits);
        int scalesAt = addFloats(scales, rows * groups);
        int zerosAt = addInts(zeros, rows * groups);
        segments.add(new Segment.Scalar(role, from, to, bits, groupSize, symmetric, codesAt, scalesAt, zerosAt));
        return this;
    }

    /**
     * Vector codes over columns [from, to): sub-vectors of dim weights along the input axis
     * (d consecutive columns, numbered row-major) or the output axis (d consecutive rows,
     * numbered column-major); codebook groups of groupRows × groupCols weights numbered
     * row-major; stages summed in order; then, with block scales (else null), each weight
     * multiplied by the scale of its row and run of blockCols columns.
     */
    public PackedMatrixBuilder vector(String role, int from, int to, Axis axis, int dim, int groupRows, int groupCols,
                                      List<StageValues> stageList, BlockScaleValues blockScales) {
        segment(from, to);
        int width = to - from;
        boolean out = axis == Axis.OUT;
        check(dim >= 1 && dim <= 16, "vector dim " + dim + " outside 1..16");
        check(out ? rows % dim == 0 : width % dim == 0,
                "dim " + dim + " does not divide the " + (out ? rows + " rows" : width + " columns"));
        check(groupRows >= 1 && groupCols >= 1 && !stageList.isEmpty(), "vector groups or stages");
        int groups = Segment.Vector.groups(rows, width, groupRows, groupCols);
        int vectors = Segment.Vector.vectors(axis, rows, width, dim);
        int first = stages.size();
        for (StageValues s : stageList) {
            check(s.k() >= 1 && s.k() <= 65536, "k = " + s.k() + " outside 1..65536");
            check((s.format() == CodebookFormat.INT8) == (s.codebookScales() != null),
                    "int8 codebooks need a scale per group, fp16 ones none");
            int bits = Stage.indexBits(s.k());
            int idxAt = addPacked(s.indices(), vectors, bits);
            int cbAt = addFloats(s.codebooks(), groups * s.k() * dim);
            int scalesAt = s.codebookScales() == null ? -1 : addHost(s.codebookScales(), groups);
            stages.add(new Stage(s.k(), bits, idxAt, cbAt, s.format(), scalesAt, s.sharedTensor()));
        }
        BlockScales bs = null;
        if (blockScales != null) {
            int bc = blockScales.blockCols();
            int bits = blockScales.bits();
            check(bc >= 1 && bits >= 1 && bits <= 16, "block scales of " + bits + " bits per " + bc + " columns");
            int codesAt = addPacked(blockScales.codes(), rows * ((width + bc - 1) / bc), bits);
            float[] table = new float[1 << bits];
            for (int c = 0; c < table.length; c++) {
                table[c] = BlockScales.scale(blockScales.offset(), blockScales.step(), c);
            }
            int tableAt = addFloats(table, table.length);
            bs = new BlockScales(bc, bits, blockScales.offset(), blockScales.step(), codesAt, tableAt);
        }
        segments.add(new Segment.Vector(role, axis, from, to, dim, groupRows, groupCols, first, stageList.size(), bs));
        return this;
    }

    /**
     * Plain weights over columns [from, to): values[r · (to − from) + c], kept as fp32 or
     * rounded to fp16.
     */
    public PackedMatrixBuilder dense(int from, int to, float[] values, boolean half) {
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
        segments.add(new Segment.Dense(from, to, half ? 16 : 32, at));
        return this;
    }

    /** perm[c] is the original column stored at position c. */
    public PackedMatrixBuilder permutation(int[] perm) {
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
    public PackedMatrixBuilder norm(float[] scale, float[] bias) {
        check(scale.length == cols && bias.length == cols, "norm needs a scale and a bias per column");
        normScaleOffset = addFloats(scale, cols);
        normBiasOffset = addFloats(bias, cols);
        return this;
    }

    public PackedMatrix build() {
        check(covered == cols, "segments cover " + covered + " of " + cols + " columns");
        ByteArrayOutputStream padded = new ByteArrayOutputStream(bytes.size() + 4);
        padded.writeBytes(bytes.toByteArray());
        padded.write(new byte[4], 0, 4);
        return new PackedMatrix(method, rows, cols, segments, stages, padded.toByteArray(), Arrays.copyOf(floats, nf),
                Arrays.copyOf(ints, ni), Arrays.copyOf(hostFloats, nh), permOffset, normScaleOffset, normBiasOffset);
    }

    private void segment(int from, int to) {
        check(from == covered && to > from && to <= cols,
                "segment [" + from + ", " + to + ") does not continue the columns covered so far (" + covered
                        + " of " + cols + ")");
        covered = to;
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

    private int addHost(float[] a, int count) {
        check(a.length >= count, "scale array of " + a.length + " for " + count + " groups");
        if (nh + count > hostFloats.length) {
            hostFloats = Arrays.copyOf(hostFloats, Math.max(2 * hostFloats.length, nh + count));
        }
        System.arraycopy(a, 0, hostFloats, nh, count);
        nh += count;
        return nh - count;
    }

    private int addPacked(int[] values, int count, int width) {
        check(values.length >= count, "index array of " + values.length + " for " + count + " values");
        int at = bytes.size();
        byte[] p = BitPacking.pack(count == values.length ? values : Arrays.copyOf(values, count), width);
        bytes.write(p, 0, p.length);
        return at;
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalArgumentException(what);
        }
    }
}
