package io.vq4j.export.vptq;

import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedMatrixBuilder;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.model.PackedLayerReader;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reads a VPTQ {@code VQuantLinear} ({@code <name>.indices}, {@code <name>.centroids.weight}, …;
 * the mapping is {@link VptqLayer}'s) into vq4j's own packed layer, so {@code vq eval ppl},
 * {@code vq generate} and {@code vq inspect} take a VPTQ checkpoint directory as they take any
 * Hugging Face one. The layout is taken from the tensor shapes (vector length = rows / indices
 * dim 1, k = centroids dim 1 / vector length, outlier_size = outlier_indices dim 2), every shape and
 * dtype is checked, and an index beyond its codebook is refused; each error names the file and
 * tensor. Unpacked (int16) main indices and {@code indices_as_float} models are refused.
 */
public final class VptqLayerReader implements PackedLayerReader {
    @Override
    public PackedMatrix read(SafeTensorsDirectory st, String name, int rows, int cols) {
        String cn = name + ".centroids.weight";
        boolean hasIndices = st.contains(name + ".indices");
        if (!st.contains(cn) && !hasIndices) {
            return null; // not a VPTQ layer; with one of the two, the other is reported missing
        }
        Tensors t = new Tensors(st, st.fileOf(hasIndices ? name + ".indices" : cn));
        long[] ish = t.shape(name + ".indices", DType.I32, 3);
        long[] csh = t.shape(cn, null, 2);
        int groups = (int) csh[0];
        if (ish[0] != groups || groups < 1) {
            throw t.bad(name + ".indices", "has " + ish[0] + " codebook groups but centroids.weight has " + groups);
        }
        if (ish[1] < 1 || rows % ish[1] != 0) {
            throw t.bad(name + ".indices", "has " + ish[1] + " row-vectors, which do not divide the " + rows + " rows");
        }
        int d = (int) (rows / ish[1]);
        int nVec = (int) ish[1];
        int k = whole(t, cn, csh[1], d);
        boolean outliers = st.contains(name + ".outlier_indices");
        int outlierSize = 0;
        int od = 0;
        int ok = 0;
        if (outliers) {
            long[] osh = t.shape(name + ".outlier_indices", DType.I16, 3);
            if (osh[0] != 1 || osh[1] < 1 || rows % osh[1] != 0 || osh[2] < 1 || osh[2] >= cols) {
                throw t.bad(name + ".outlier_indices", "has shape " + Arrays.toString(osh) + ", not [1, rows/d, "
                        + "outlier_size < " + cols + "] for " + rows + " rows");
            }
            od = (int) (rows / osh[1]);
            outlierSize = (int) osh[2];
            long[] ocs = t.shape(name + ".outlier_centroids.weight", null, 2);
            if (ocs[0] != 1) {
                throw t.bad(name + ".outlier_centroids.weight", "has " + ocs[0] + " rows, not 1");
            }
            ok = whole(t, name + ".outlier_centroids.weight", ocs[1], od);
        }
        int mainCols = cols - outlierSize;
        if (mainCols % groups != 0) {
            throw t.bad(name + ".indices", "has " + groups + " codebook groups, which do not divide the " + mainCols
                    + " main columns");
        }
        int groupSize = mainCols / groups;
        int mainBits = log2(t, cn, k);
        boolean residual = st.contains(name + ".res_centroids.weight");
        int kr = 0;
        int resBits = 0;
        if (residual) {
            long[] rsh = t.shape(name + ".res_centroids.weight", null, 2);
            if (rsh[0] != groups) {
                throw t.bad(name + ".res_centroids.weight", "has " + rsh[0] + " groups, not " + groups);
            }
            kr = whole(t, name + ".res_centroids.weight", rsh[1], d);
            resBits = log2(t, name + ".res_centroids.weight", kr);
        }
        int words = VptqIndexBits.words(groupSize, mainBits + resBits);
        if (ish[2] != words) {
            throw t.bad(name + ".indices", "has " + ish[2] + " int32 words per row, but " + groupSize + " indices of "
                    + (mainBits + resBits) + " bits take " + words);
        }
        int[] packed = t.ints(name + ".indices");
        int[] i0 = new int[mainCols * nVec];
        int[] i1 = residual ? new int[mainCols * nVec] : null;
        long mask = (1L << mainBits) - 1;
        for (int g = 0; g < groups; g++) {
            for (int i = 0; i < nVec; i++) {
                int at = (g * nVec + i) * words;
                for (int j = 0; j < groupSize; j++) {
                    long v = VptqIndexBits.read(packed, at, j, mainBits + resBits);
                    int col = g * groupSize + j;
                    i0[col * nVec + i] = (int) (v & mask);
                    if (residual) {
                        i1[col * nVec + i] = (int) (v >>> mainBits);
                    }
                }
            }
        }
        PackedMatrixBuilder b = PackedMatrix.builder(rows, cols).method("vptq");
        if (outliers) {
            int on = rows / od;
            int[] raw = t.ints(name + ".outlier_indices");
            int[] oi = new int[outlierSize * on];
            for (int i = 0; i < on; i++) {
                for (int j = 0; j < outlierSize; j++) {
                    int v = raw[i * outlierSize + j] & 0xFFFF;
                    if (v >= ok) {
                        throw t.bad(name + ".outlier_indices", "element " + (i * outlierSize + j) + " = " + v
                                + " is outside the " + ok + " outlier centroids");
                    }
                    oi[j * on + i] = v;
                }
            }
            float[] oc = t.floats(name + ".outlier_centroids.weight");
            b.vector("outlier_", 0, outlierSize, Axis.OUT, od, rows, outlierSize, List.of(new StageValues(ok, oc, oi)),
                    null);
        }
        List<StageValues> stages = new ArrayList<>();
        stages.add(new StageValues(k, t.floats(cn), i0));
        if (residual) {
            stages.add(new StageValues(kr, t.floats(name + ".res_centroids.weight"), i1));
        }
        b.vector("", outlierSize, cols, Axis.OUT, d, rows, groupSize, stages, null);
        int[] perm = null;
        if (st.contains(name + ".perm")) {
            t.shape(name + ".perm", DType.I16, 1);
            int[] raw = t.ints(name + ".perm");
            if (raw.length != cols) {
                throw t.bad(name + ".perm", "has " + raw.length + " entries, not the " + cols + " columns");
            }
            perm = new int[cols];
            boolean[] seen = new boolean[cols];
            for (int c = 0; c < cols; c++) {
                int p = raw[c] & 0xFFFF;
                if (p >= cols || seen[p]) {
                    throw t.bad(name + ".perm", "is not a permutation of 0.." + (cols - 1) + " (element " + c + " = "
                            + p + ")");
                }
                seen[p] = true;
                perm[c] = p;
            }
            b.permutation(perm);
        }
        boolean hasScale = st.contains(name + ".weight_scale");
        if (hasScale != st.contains(name + ".weight_bias")) {
            throw t.bad(name + (hasScale ? ".weight_bias" : ".weight_scale"), "is missing (enable_norm needs both)");
        }
        if (hasScale) {
            float[] ws = t.floats(name + ".weight_scale");
            float[] wb = t.floats(name + ".weight_bias");
            if (ws.length != cols || wb.length != cols) {
                throw t.bad(name + ".weight_scale", "and weight_bias must have " + cols + " entries");
            }
            float[] s = new float[cols];
            float[] bi = new float[cols];
            for (int c = 0; c < cols; c++) {
                int oc = perm == null ? c : perm[c];
                s[c] = ws[oc];
                bi[c] = wb[oc];
            }
            b.norm(s, bi);
        }
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            throw t.bad(name + ".indices", e.getMessage());
        }
    }

    private static int whole(Tensors t, String name, long width, int d) {
        if (width % d != 0 || width / d < 1) {
            throw t.bad(name, "has rows of " + width + " values, not whole centroids of length " + d);
        }
        return (int) (width / d);
    }

    private static int log2(Tensors t, String name, int k) {
        if (Integer.bitCount(k) != 1 || k > 65536) {
            throw t.bad(name, "has " + k + " centroids; VPTQ's packed indices need a power of two up to 65536");
        }
        return Integer.numberOfTrailingZeros(k);
    }

    /** Tensor access with errors that name the file and the tensor. */
    private record Tensors(SafeTensorsDirectory st, SafeTensorsFile layerFile) {
        SafeTensorsFile file(String name) {
            SafeTensorsFile f = st.fileOf(name);
            if (f == null) {
                throw InputException.at(layerFile.path(), "VPTQ tensor '" + name + "' is missing");
            }
            return f;
        }

        long[] shape(String name, DType dtype, int rank) {
            SafeTensorsFile f = file(name);
            SafeTensorsFile.TensorInfo i = f.info(name);
            if (dtype != null && i.dtype() != dtype) {
                throw bad(name, "is " + i.dtype() + ", not " + dtype);
            }
            if (dtype == null && !i.dtype().isFloating()) {
                throw bad(name, "is " + i.dtype() + ", not a float dtype");
            }
            if (i.shape().length != rank) {
                throw bad(name, "has shape " + Arrays.toString(i.shape()) + ", not rank " + rank);
            }
            return i.shape();
        }

        int[] ints(String name) {
            return file(name).ints(name);
        }

        float[] floats(String name) {
            return file(name).floats(name);
        }

        InputException bad(String name, String why) {
            SafeTensorsFile f = st.fileOf(name);
            return f == null ? InputException.at(layerFile.path(), "VPTQ tensor '" + name + "' " + why)
                    : InputException.at(f.path(), "tensor '" + name + "' " + why);
        }
    }
}
