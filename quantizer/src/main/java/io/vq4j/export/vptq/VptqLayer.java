package io.vq4j.export.vptq;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.Stage;
import io.vq4j.pack.Codebooks;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * One vq4j packed layer as the tensors of a VPTQ {@code VQuantLinear} (transformers'
 * {@code quant_method: "vptq"}) and its entry in {@code config_for_layers}.
 *
 * <p>The mapping. vq4j's W is out × in (rows × cols), vectors of d consecutive rows of one column
 * ({@link Axis#OUT}), which is VPTQ's {@code vector_quant_dim: "out"}. The main segment becomes
 * {@code centroids.weight} [group_num, k·d] fp16 and {@code indices} int32 [group_num, rows/d,
 * ⌈group_size·(b + b_res)/32⌉] ({@link VptqIndexBits}), with the residual stage, if any, as
 * {@code res_centroids.weight} and its index bits packed beside the main ones. The outlier
 * segment (the first columns of the stored order) becomes {@code outlier_centroids.weight}
 * [1, k_o·d] and {@code outlier_indices} int16 [1, rows/d, outlier_size], unpacked as VPTQ keeps
 * them. The per-column norm becomes {@code weight_scale} / {@code weight_bias} (fp16, indexed by
 * the original column, as VPTQ applies them after the permutation).
 *
 * <p>The permutation. Without outliers the column order is absorbed: the index columns are
 * written in the original order, which is exact because one codebook serves the whole segment
 * (what VPTQ's own absorb_perm does), and {@code enable_perm} is false. With outliers it cannot
 * be absorbed (the outlier columns must come first), so it is carried as {@code perm} (int16,
 * VPTQ's dtype for packed models): stored column c is original column perm[c].
 *
 * <p>Refused, one line each: a layer that is not vector-quantized along the output axis with one
 * codebook per segment; int8 codebooks, block scales or shared codebooks spanning groups; more
 * than one residual stage, or residual stages on the outliers (VPTQ's VQuantLinear rejects them);
 * a codebook size that is not a power of two (VPTQ's index width is log2 k); a residual index
 * wider than the main one (VPTQ's unpacking masks the residual with the main width); a row of
 * fewer than 32 index bits (VPTQ's unpacking computes the padding modulo the used bits); a
 * permutation over more than 32768 columns (int16).
 */
final class VptqLayer {
    /** The layer's tensors (added to the writer by {@link #addTo}) and its config_for_layers entry. */
    record Encoded(String name, List<Tensor> tensors, ObjectNode config) {
        void addTo(SafeTensorsWriter out) {
            for (Tensor t : tensors) {
                if (t.floats() != null) {
                    out.addFloats(t.name(), t.dtype(), t.shape(), t.floats());
                } else {
                    out.addBytes(t.name(), t.dtype(), t.shape(), t.bytes());
                }
            }
        }
    }

    /** A tensor: fp16 values (floats) or raw little-endian integers (bytes). */
    record Tensor(String name, DType dtype, long[] shape, float[] floats, byte[] bytes) {
    }

    private VptqLayer() {
    }

    static Encoded encode(String name, PackedMatrix m) {
        int rows = m.rows();
        int cols = m.cols();
        List<Segment.Vector> segs = new ArrayList<>();
        for (Segment s : m.segments()) {
            if (!(s instanceof Segment.Vector v) || v.axis() != Axis.OUT) {
                throw refuse(name, "is not vector-quantized along the output dimension (VPTQ's vector_quant_dim"
                        + " \"out\"); export a --method vptq model");
            }
            if (v.blockScales() != null) {
                throw refuse(name, "has block scales, which VPTQ cannot express");
            }
            if (v.groupRows() != rows) {
                throw refuse(name, "has codebook groups of " + v.groupRows() + " rows; VPTQ groups whole columns");
            }
            segs.add(v);
        }
        Segment.Vector outlier = null;
        Segment.Vector main;
        if (segs.size() == 1 && segs.get(0).role().isEmpty()) {
            main = segs.get(0);
        } else if (segs.size() == 2 && segs.get(0).role().equals("outlier_") && segs.get(1).role().isEmpty()) {
            outlier = segs.get(0);
            main = segs.get(1);
        } else {
            throw refuse(name, "has " + segs.size() + " segments; VPTQ has a main one and at most one outlier one");
        }
        int d = main.dim();
        List<Stage> mainStages = m.stages(main);
        if (mainStages.size() > 2) {
            throw refuse(name, "has " + (mainStages.size() - 1) + " residual stages; VPTQ has at most one");
        }
        if (main.width() % main.groupCols() != 0) {
            throw refuse(name, "main columns (" + main.width() + ") are not whole codebook groups of "
                    + main.groupCols());
        }
        int groups = main.width() / main.groupCols();
        int groupSize = main.groupCols();
        Stage st0 = mainStages.get(0);
        Stage st1 = mainStages.size() > 1 ? mainStages.get(1) : null;
        int mainBits = bits(name, st0.k());
        int resBits = st1 == null ? 0 : bits(name, st1.k());
        if (resBits > mainBits) {
            throw refuse(name, "has a residual index of " + resBits + " bits, wider than the main " + mainBits
                    + " (VPTQ's unpacking masks the residual to the main width)");
        }
        if (groupSize * (mainBits + resBits) < 32) {
            throw refuse(name, "has index rows of " + groupSize * (mainBits + resBits) + " bits; VPTQ's unpacking"
                    + " needs at least 32");
        }
        int[] perm = m.perm();
        boolean carryPerm = perm != null && outlier != null;
        if (carryPerm && cols > 32768) {
            throw refuse(name, "has " + cols + " columns, too many for VPTQ's int16 perm");
        }
        int nVec = rows / d;
        // the stored column each written column takes its indices from: absorbed perm = inverse order
        int[] source = new int[cols];
        for (int c = 0; c < cols; c++) {
            source[c] = c;
        }
        if (perm != null && !carryPerm) {
            for (int c = 0; c < cols; c++) {
                source[perm[c]] = c;
            }
        }
        List<Tensor> out = new ArrayList<>();
        out.add(f16(name + ".centroids.weight", new long[] {groups, (long) st0.k() * d},
                codebooks(name, m, main, st0)));
        if (st1 != null) {
            out.add(f16(name + ".res_centroids.weight", new long[] {groups, (long) st1.k() * d},
                    codebooks(name, m, main, st1)));
        }
        int[] i0 = m.indices(main, st0);
        int[] i1 = st1 == null ? null : m.indices(main, st1);
        int words = VptqIndexBits.words(groupSize, mainBits + resBits);
        int[] packed = new int[groups * nVec * words];
        int[] r0 = new int[groupSize];
        int[] r1 = st1 == null ? null : new int[groupSize];
        for (int g = 0; g < groups; g++) {
            for (int i = 0; i < nVec; i++) {
                for (int j = 0; j < groupSize; j++) {
                    int local = source[main.from() + g * groupSize + j] - main.from();
                    r0[j] = i0[local * nVec + i];
                    if (r1 != null) {
                        r1[j] = i1[local * nVec + i];
                    }
                }
                VptqIndexBits.packRow(r0, r1, 0, 1, groupSize, mainBits, resBits, packed, (g * nVec + i) * words);
            }
        }
        out.add(new Tensor(name + ".indices", DType.I32, new long[] {groups, nVec, words}, null, int32(packed)));
        int outlierK = -1;
        int outlierSize = 0;
        if (outlier != null) {
            List<Stage> os = m.stages(outlier);
            if (os.size() != 1) {
                throw refuse(name, "has residual stages on its outlier columns, which VPTQ does not support");
            }
            if (outlier.dim() < 2) {
                throw refuse(name, "has outlier vectors of length 1; VPTQ enables outliers only for length > 1");
            }
            if (outlier.groupCols() != outlier.width()) {
                throw refuse(name, "has several outlier codebooks; VPTQ has one");
            }
            Stage o = os.get(0);
            outlierK = o.k();
            outlierSize = outlier.width();
            if (outlierK > 65536) {
                throw refuse(name, "has " + outlierK + " outlier centroids, more than int16 indices hold");
            }
            out.add(f16(name + ".outlier_centroids.weight", new long[] {1, (long) outlierK * outlier.dim()},
                    codebooks(name, m, outlier, o)));
            int on = rows / outlier.dim();
            int[] oi = m.indices(outlier, o);
            short[] t = new short[on * outlierSize];
            for (int i = 0; i < on; i++) {
                for (int j = 0; j < outlierSize; j++) {
                    t[i * outlierSize + j] = (short) oi[j * on + i];
                }
            }
            out.add(new Tensor(name + ".outlier_indices", DType.I16, new long[] {1, on, outlierSize}, null, int16(t)));
        }
        if (carryPerm) {
            short[] p = new short[cols];
            for (int c = 0; c < cols; c++) {
                p[c] = (short) perm[c];
            }
            out.add(new Tensor(name + ".perm", DType.I16, new long[] {cols}, null, int16(p)));
        }
        float[] scale = m.normScale();
        if (scale != null) {
            float[] bias = m.normBias();
            float[] ws = new float[cols];
            float[] wb = new float[cols];
            for (int c = 0; c < cols; c++) {
                int oc = perm == null ? c : perm[c];
                ws[oc] = exactF16(name, "weight_scale", scale[c]);
                wb[oc] = exactF16(name, "weight_bias", bias[c]);
            }
            out.add(f16(name + ".weight_scale", new long[] {cols}, ws));
            out.add(f16(name + ".weight_bias", new long[] {cols}, wb));
        }
        ObjectNode c = JsonNodeFactory.instance.objectNode();
        c.put("bias", false);
        c.put("enable_norm", scale != null);
        c.put("enable_perm", carryPerm);
        c.put("group_num", groups);
        c.put("group_size", groupSize);
        c.put("in_features", cols);
        c.put("indices_as_float", false);
        c.put("is_indice_packed", true);
        c.putArray("num_centroids").add(outlierK).add(st0.k());
        c.putArray("num_res_centroids").add(-1).add(st1 == null ? -1 : st1.k());
        c.put("out_features", rows);
        c.put("outlier_size", outlierSize);
        c.putArray("vector_lens").add(outlier == null ? -1 : outlier.dim()).add(d);
        return new Encoded(name, out, c);
    }

    private static IllegalArgumentException refuse(String name, String why) {
        return new IllegalArgumentException("layer '" + name + "' " + why);
    }

    private static int bits(String name, int k) {
        if (Integer.bitCount(k) != 1) {
            throw refuse(name, "has a codebook of " + k + " centroids; VPTQ needs a power of two (index width log2 k)");
        }
        return Integer.numberOfTrailingZeros(k);
    }

    private static float[] codebooks(String name, PackedMatrix m, Segment.Vector v, Stage st) {
        if (st.format() != CodebookFormat.F16) {
            throw refuse(name, "has " + st.format() + " codebooks; VPTQ stores fp16 centroids");
        }
        float[] cb = m.codebooks(v, st);
        for (float x : cb) {
            exactF16(name, "centroids", x);
        }
        return cb;
    }

    private static float exactF16(String name, String what, float x) {
        if (Codebooks.f16(x) != x && !(Float.isNaN(x))) {
            throw refuse(name, "has " + what + " value " + x + " that fp16 does not hold exactly");
        }
        return x;
    }

    private static Tensor f16(String name, long[] shape, float[] values) {
        return new Tensor(name, DType.F16, shape, values, null);
    }

    private static byte[] int32(int[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(v);
        return b.array();
    }

    private static byte[] int16(short[] v) {
        ByteBuffer b = ByteBuffer.allocate(2 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asShortBuffer().put(v);
        return b.array();
    }
}
