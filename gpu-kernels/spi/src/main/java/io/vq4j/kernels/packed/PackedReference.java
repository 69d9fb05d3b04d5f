package io.vq4j.kernels.packed;

import io.vq4j.core.Parallel;

import java.util.List;

/**
 * The one decoding of a {@link PackedMatrix}, in the order of operations every backend keeps
 * (the GPU kernels of vq.cl and TornadoVM follow it bit for bit): a weight is decoded in float
 * (scalar: scale · (code − zero); vector: 0 + stage 1 + stage 2 + …, times the block scale;
 * then · normScale + normBias, two roundings), and a product sums over the stored column
 * positions c = 0, 1, … in order, acc = acc + W'[r, c] · x[perm[c]], no fused multiply-add.
 */
public final class PackedReference {
    private PackedReference() {
    }

    /** Bits [i·width, (i+1)·width) of the stream starting at byte {@code at}. */
    static int bits(byte[] b, int at, long i, int width) {
        long bit = i * width;
        int p = at + (int) (bit >>> 3);
        int word = (b[p] & 0xff) | (b[p + 1] & 0xff) << 8 | (b[p + 2] & 0xff) << 16;
        return (word >>> (int) (bit & 7)) & ((1 << width) - 1);
    }

    /** Row r of W' (norm applied, columns in stored position order) into out[0, cols). */
    public static void decodeRow(PackedMatrix m, int r, float[] out) {
        for (Segment s : m.segments()) {
            switch (s) {
                case Segment.Scalar sc -> scalarRow(m, sc, r, out);
                case Segment.Dense d -> denseRow(m, d, r, out);
                case Segment.Vector v -> vectorRow(m, v, r, out);
            }
        }
        if (m.normScaleOffset() >= 0) {
            float[] fl = m.floats();
            for (int c = 0; c < m.cols(); c++) {
                out[c] = out[c] * fl[m.normScaleOffset() + c] + fl[m.normBiasOffset() + c];
            }
        }
    }

    /** scale · (code − zero), per row group (a group's scale and zero read once). */
    private static void scalarRow(PackedMatrix m, Segment.Scalar s, int r, float[] out) {
        byte[] by = m.bytes();
        float[] fl = m.floats();
        int[] in = m.ints();
        int from = s.from();
        int width = s.width();
        int gs = s.groupSize();
        int groups = s.groups();
        int at = s.codesAt();
        int bits = s.bits();
        int scales = s.scalesAt() + r * groups;
        int zeros = s.zerosAt() + r * groups;
        long base = (long) r * width;
        for (int g = 0, c = 0; c < width; g++) {
            float scale = fl[scales + g];
            int zero = in[zeros + g];
            for (int end = Math.min(width, c + gs); c < end; c++) {
                out[from + c] = scale * (bits(by, at, base + c, bits) - zero);
            }
        }
    }

    /** fp32 values, or fp16 ones widened. */
    private static void denseRow(PackedMatrix m, Segment.Dense s, int r, float[] out) {
        byte[] by = m.bytes();
        float[] fl = m.floats();
        int at = s.valuesAt();
        int from = s.from();
        int width = s.width();
        for (int c = 0; c < width; c++) {
            int i = r * width + c;
            out[from + c] = s.bits() == 32 ? fl[at + i]
                    : Float.float16ToFloat((short) ((by[at + 2 * i] & 0xff) | (by[at + 2 * i + 1] & 0xff) << 8));
        }
    }

    /** 0 + stage 1 + stage 2 + …, times the block scale. */
    private static void vectorRow(PackedMatrix m, Segment.Vector s, int r, float[] out) {
        byte[] by = m.bytes();
        float[] fl = m.floats();
        int rows = m.rows();
        int from = s.from();
        int width = s.width();
        int d = s.dim();
        boolean alongRow = s.axis() == Axis.IN;
        List<Stage> stages = m.stages(s);
        BlockScales bs = s.blockScales();
        int colBlocks = (width + s.groupCols() - 1) / s.groupCols();
        int scaleBlocks = bs != null ? (width + bs.blockCols() - 1) / bs.blockCols() : 0;
        for (int c = 0; c < width; c++) {
            long i;
            int j;
            int r0;
            int c0;
            if (alongRow) {
                j = c % d;
                i = (long) r * (width / d) + c / d;
                r0 = r;
                c0 = c - j;
            } else {
                j = r % d;
                i = (long) c * (rows / d) + r / d;
                r0 = r - j;
                c0 = c;
            }
            int g = (r0 / s.groupRows()) * colBlocks + c0 / s.groupCols();
            float sum = 0f;
            for (int t = 0; t < stages.size(); t++) {
                Stage st = stages.get(t);
                int idx = bits(by, st.indicesAt(), i, st.indexBits());
                sum += fl[st.codebooksAt() + ((g * st.k() + idx) * d + j)];
            }
            if (bs != null) {
                int code = bits(by, bs.codesAt(), (long) r * scaleBlocks + c / bs.blockCols(), bs.bits());
                sum *= fl[bs.tableAt() + code];
            }
            out[from + c] = sum;
        }
    }

    /** W (rows × cols, row-major, original column order) into out. */
    public static void dequant(PackedMatrix m, float[] out) {
        int cols = m.cols();
        if (out.length < (long) m.rows() * cols) {
            throw new IllegalArgumentException("dequant: output of " + out.length + " for " + m.rows() + "x" + cols);
        }
        int po = m.permOffset();
        int[] in = m.ints();
        Parallel.forChunks(0, m.rows(), 1, (lo, hi) -> {
            float[] row = new float[cols];
            for (int r = lo; r < hi; r++) {
                decodeRow(m, r, row);
                for (int c = 0; c < cols; c++) {
                    out[r * cols + (po < 0 ? c : in[po + c])] = row[c];
                }
            }
        });
    }

    /**
     * Y = X · Wᵀ for n input rows: x is n × cols, y is n × rows (y[t·rows + r] = Σ_c W[r, c] x[t·cols + c]),
     * summed over stored positions in order. With n = 1 this is the matrix-vector product W x.
     */
    public static void matmul(PackedMatrix m, float[] x, int n, float[] y) {
        int rows = m.rows();
        int cols = m.cols();
        if (n < 0 || x.length < (long) n * cols || y.length < (long) n * rows) {
            throw new IllegalArgumentException("dequantMatmul: x of " + x.length + " and y of " + y.length + " for n = "
                    + n + " and " + rows + "x" + cols);
        }
        int po = m.permOffset();
        int[] in = m.ints();
        Parallel.forChunks(0, rows, 1, (lo, hi) -> {
            float[] row = new float[cols];
            for (int r = lo; r < hi; r++) {
                decodeRow(m, r, row);
                for (int t = 0; t < n; t++) {
                    float acc = 0f;
                    int xo = t * cols;
                    for (int c = 0; c < cols; c++) {
                        acc = acc + row[c] * x[xo + (po < 0 ? c : in[po + c])];
                    }
                    y[t * rows + r] = acc;
                }
            }
        });
    }
}
