package io.vq4j.kernels.packed;

import static io.vq4j.kernels.packed.PackedMatrix.DENSE;
import static io.vq4j.kernels.packed.PackedMatrix.SCALAR;
import static io.vq4j.kernels.packed.PackedMatrix.SEG_FIELDS;
import static io.vq4j.kernels.packed.PackedMatrix.STAGE_FIELDS;
import static io.vq4j.kernels.packed.PackedMatrix.VECTOR_IN;

import io.vq4j.core.Parallel;

/**
 * The reference decoding of a {@link PackedMatrix}, in the order of operations every backend
 * keeps: a weight is decoded in float exactly as the quantizer's dequantizer does (scalar:
 * scale · (code − zero); vector: 0 + stage 1 + stage 2 + …, times the block scale; then
 * · normScale + normBias, two roundings), and a product sums over the stored column
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
        int rows = m.rows();
        int[] seg = m.segments();
        int[] st = m.stages();
        byte[] by = m.bytes();
        float[] fl = m.floats();
        int[] in = m.ints();
        for (int s = 0; s < m.segmentCount(); s++) {
            int o = s * SEG_FIELDS;
            int kind = seg[o];
            int from = seg[o + 1];
            int width = seg[o + 2] - from;
            if (kind == SCALAR) {
                int bitsW = seg[o + 3];
                int gs = seg[o + 4];
                int groups = (width + gs - 1) / gs;
                for (int c = 0; c < width; c++) {
                    int g = r * groups + c / gs;
                    int code = bits(by, seg[o + 5], (long) r * width + c, bitsW);
                    out[from + c] = fl[seg[o + 6] + g] * (code - in[seg[o + 7] + g]);
                }
                continue;
            }
            if (kind == DENSE) {
                int at = seg[o + 4];
                for (int c = 0; c < width; c++) {
                    int i = r * width + c;
                    out[from + c] = seg[o + 3] == 32 ? fl[at + i]
                            : Float.float16ToFloat((short) ((by[at + 2 * i] & 0xff) | (by[at + 2 * i + 1] & 0xff) << 8));
                }
                continue;
            }
            int d = seg[o + 3];
            int groupRows = seg[o + 4];
            int groupCols = seg[o + 5];
            int first = seg[o + 6];
            int nStages = seg[o + 7];
            int blockCols = seg[o + 8];
            int colBlocks = (width + groupCols - 1) / groupCols;
            int scaleBlocks = blockCols > 0 ? (width + blockCols - 1) / blockCols : 0;
            for (int c = 0; c < width; c++) {
                long i;
                int j;
                int r0;
                int c0;
                if (kind == VECTOR_IN) {
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
                int g = (r0 / groupRows) * colBlocks + c0 / groupCols;
                float sum = 0f;
                for (int t = first; t < first + nStages; t++) {
                    int so = t * STAGE_FIELDS;
                    int k = st[so];
                    int idx = bits(by, st[so + 2], i, st[so + 1]);
                    sum += fl[st[so + 3] + ((g * k + idx) * d + j)];
                }
                if (blockCols > 0) {
                    int code = bits(by, seg[o + 10], (long) r * scaleBlocks + c / blockCols, seg[o + 9]);
                    sum *= fl[seg[o + 11] + code];
                }
                out[from + c] = sum;
            }
        }
        if (m.normScaleOffset() >= 0) {
            for (int c = 0; c < m.cols(); c++) {
                out[c] = out[c] * fl[m.normScaleOffset() + c] + fl[m.normBiasOffset() + c];
            }
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
