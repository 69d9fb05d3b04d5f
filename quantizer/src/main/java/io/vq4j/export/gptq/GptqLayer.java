package io.vq4j.export.gptq;

import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;

/**
 * One linear layer in the GPTQ checkpoint layout of AutoGPTQ / GPTQModel ({@code quant_method:
 * "gptq"}), for a weight W of {@code out} rows and {@code in} columns (the layer maps in → out):
 * <ul>
 * <li>{@code qweight} int32 [in·bits/32, out]: for each output column o, the codes of input
 * features 0, 1, … as one little-endian bit stream of {@code bits}-bit fields (feature i at bit
 * i·bits of the column's words). For 2/4/8 bits that is 32/bits codes per word; for 3 bits it is
 * the reference's 32-codes-over-3-words loop (code 10 straddles words 0 and 1, code 21 words 1
 * and 2), which is exactly this bit stream.</li>
 * <li>{@code qzeros} int32 [groups, out·bits/32]: per group, the zero points of outputs 0, 1, …
 * as the same bit stream; in checkpoint format v1 ({@code "gptq"}) each field holds zero − 1
 * (masked to bits), in v2 ({@code "gptq_v2"}, GPTQModel) the zero itself.</li>
 * <li>{@code scales} fp16 [groups, out]; {@code g_idx} int32 [in], the group of each input
 * feature (with act-order, desc_act, not i / group_size).</li>
 * </ul>
 * W[o, i] = scales[g_idx[i], o] · (code[i, o] − zero[g_idx[i], o]).
 *
 * @param codes  in × out, code of input i for output o at [i · out + o]
 * @param zeros  groups × out (the zero points themselves, not the v1 offset)
 * @param scales groups × out, fp16 values
 */
public record GptqLayer(int bits, int in, int out, int groups, int[] codes, int[] zeros, float[] scales, int[] gIdx) {

    /** Whether a layer of this shape and bit width can be written: the packed axes must be whole int32 words. */
    public static String unpackable(int bits, int in, int out) {
        if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
            return bits + "-bit codes (the GPTQ format has 2, 3, 4 and 8)";
        }
        if (in % 32 != 0 || out % 32 != 0) {
            return "shape " + out + "x" + in + " (in and out features must be multiples of 32 for int32 packing)";
        }
        return null;
    }

    /**
     * The GPTQ form of a vq4j scalar layer: one scalar segment over every column, perhaps with a
     * column permutation (act-order: stored position p holds original column perm[p], and groups
     * are runs of groupSize stored positions, so g_idx[perm[p]] = p / groupSize), no norm.
     * Exact: vq4j's scales are fp16 values already ({@link io.vq4j.quant.core.Rtn}).
     *
     * @return the layer, or throws IllegalArgumentException saying why it cannot be expressed
     */
    public static GptqLayer of(PackedMatrix m) {
        if (m.segmentCount() != 1 || !(m.segments().getFirst() instanceof Segment.Scalar s)
                || s.from() != 0 || s.to() != m.cols()) {
            throw new IllegalArgumentException("is not one scalar grid over every column (method " + m.method()
                    + "; the GPTQ format holds scalar gptq/rtn layers only)");
        }
        if (m.normScale() != null || m.normBias() != null) {
            throw new IllegalArgumentException("has a per-column norm, which the GPTQ format cannot hold");
        }
        int in = m.cols();
        int out = m.rows();
        String why = unpackable(s.bits(), in, out);
        if (why != null) {
            throw new IllegalArgumentException("has " + why);
        }
        int g = s.groupSize();
        int groups = s.groups();
        int[] perm = m.perm();
        int[] vc = m.codes(s);
        float[] vs = m.scales(s);
        int[] vz = m.zeros(s);
        int[] codes = new int[in * out];
        int[] zeros = new int[groups * out];
        float[] scales = new float[groups * out];
        int[] gIdx = new int[in];
        for (int p = 0; p < in; p++) {
            int c = perm == null ? p : perm[p];
            gIdx[c] = p / g;
            for (int o = 0; o < out; o++) {
                codes[c * out + o] = vc[o * in + p];
            }
        }
        for (int o = 0; o < out; o++) {
            for (int k = 0; k < groups; k++) {
                float sc = vs[o * groups + k];
                if (Float.float16ToFloat(Float.floatToFloat16(sc)) != sc) {
                    throw new IllegalArgumentException("has a scale " + sc + " that fp16 does not hold exactly");
                }
                scales[k * out + o] = sc;
                zeros[k * out + o] = vz[o * groups + k];
            }
        }
        return new GptqLayer(s.bits(), in, out, groups, codes, zeros, scales, gIdx);
    }

    /**
     * A layer read back from its tensors (shapes already checked by the caller): v1 zero points
     * are the stored field + 1, as the engines' kernels read them (so a field of 2^bits − 1 is a
     * zero of 2^bits, not 0), v2 ones the field itself.
     */
    public static GptqLayer fromTensors(int bits, int in, int out, int groups, int[] qweight, int[] qzeros,
                                        float[] scales, int[] gIdx, boolean v1) {
        int[] codes = unpackRows(qweight, in, out, bits);
        int[] zeros = unpackColumns(qzeros, groups, out, bits);
        if (v1) {
            for (int i = 0; i < zeros.length; i++) {
                zeros[i] += 1;
            }
        }
        return new GptqLayer(bits, in, out, groups, codes, zeros, scales, gIdx);
    }

    public int maxq() {
        return (1 << bits) - 1;
    }

    /** qweight, [in·bits/32, out] row-major. */
    public int[] qweight() {
        return packRows(codes, in, out, bits);
    }

    /** qzeros, [groups, out·bits/32] row-major; v1 stores zero − 1 masked to bits. */
    public int[] qzeros(boolean v1) {
        int[] z = zeros.clone();
        if (v1) {
            for (int i = 0; i < z.length; i++) {
                z[i] = (z[i] - 1) & maxq();
            }
        }
        return packColumns(z, groups, out, bits);
    }

    /** W, out × in row-major, in fp32: scale · (code − zero), exact (an fp16 scale times an integer under 2^9). */
    public float[] dequantize() {
        float[] w = new float[out * in];
        for (int i = 0; i < in; i++) {
            int k = gIdx[i];
            for (int o = 0; o < out; o++) {
                w[o * in + i] = scales[k * out + o] * (codes[i * out + o] - zeros[k * out + o]);
            }
        }
        return w;
    }

    /**
     * Packs a rows × cols matrix of fields along its rows: column c's values form one bit stream
     * over rows·bits/32 words, output [rows·bits/32, cols].
     */
    static int[] packRows(int[] v, int rows, int cols, int bits) {
        int[] words = new int[rows * bits / 32 * cols];
        for (int r = 0; r < rows; r++) {
            long bit = (long) r * bits;
            int w = (int) (bit >>> 5);
            int sh = (int) (bit & 31);
            for (int c = 0; c < cols; c++) {
                int x = v[r * cols + c];
                words[w * cols + c] |= x << sh;
                if (sh + bits > 32) {
                    words[(w + 1) * cols + c] |= x >>> (32 - sh);
                }
            }
        }
        return words;
    }

    /** Packs a rows × cols matrix of fields along its columns: each row one bit stream, output [rows, cols·bits/32]. */
    static int[] packColumns(int[] v, int rows, int cols, int bits) {
        int per = cols * bits / 32;
        int[] words = new int[rows * per];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                long bit = (long) c * bits;
                int w = r * per + (int) (bit >>> 5);
                int sh = (int) (bit & 31);
                int x = v[r * cols + c];
                words[w] |= x << sh;
                if (sh + bits > 32) {
                    words[w + 1] |= x >>> (32 - sh);
                }
            }
        }
        return words;
    }

    /** The inverse of {@link #packRows}. */
    static int[] unpackRows(int[] words, int rows, int cols, int bits) {
        int mask = (1 << bits) - 1;
        int[] v = new int[rows * cols];
        for (int r = 0; r < rows; r++) {
            long bit = (long) r * bits;
            int w = (int) (bit >>> 5);
            int sh = (int) (bit & 31);
            for (int c = 0; c < cols; c++) {
                int x = words[w * cols + c] >>> sh;
                if (sh + bits > 32) {
                    x |= words[(w + 1) * cols + c] << (32 - sh);
                }
                v[r * cols + c] = x & mask;
            }
        }
        return v;
    }

    /** The inverse of {@link #packColumns}. */
    static int[] unpackColumns(int[] words, int rows, int cols, int bits) {
        int mask = (1 << bits) - 1;
        int per = cols * bits / 32;
        int[] v = new int[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                long bit = (long) c * bits;
                int w = r * per + (int) (bit >>> 5);
                int sh = (int) (bit & 31);
                int x = words[w] >>> sh;
                if (sh + bits > 32) {
                    x |= words[w + 1] << (32 - sh);
                }
                v[r * cols + c] = x & mask;
            }
        }
        return v;
    }
}
