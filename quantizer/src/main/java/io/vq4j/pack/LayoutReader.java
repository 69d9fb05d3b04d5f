package io.vq4j.pack;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.io.DType;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.BitPacking;
import io.vq4j.kernels.packed.BlockScaleValues;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedMatrixBuilder;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.Stage;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.pack.PackedLayers.Tensor;
import io.vq4j.pack.PackedLayers.TensorSource;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The reading half of {@link PackedLayers}: a layer's layout JSON and tensors, every tensor
 * checked against the layout, into the {@link PackedMatrix} the format describes.
 */
final class LayoutReader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private LayoutReader() {
    }

    /**
     * Reads a layer back from its layout JSON and tensors. Every tensor's dtype and size is
     * checked against the layout; a mismatch is an IllegalArgumentException naming the tensor.
     */
    static PackedMatrix read(String name, String layout, TensorSource src) {
        JsonNode o;
        try {
            o = JSON.readTree(layout);
        } catch (IOException e) {
            throw new IllegalArgumentException("layout of '" + name + "' is not JSON: "
                    + e.getMessage().lines().findFirst().orElse(""));
        }
        if (o.path("format").asInt() != 1) {
            throw new IllegalArgumentException("layout of '" + name + "' has unknown format " + o.path("format"));
        }
        int rows = req(o, "rows", name);
        int cols = req(o, "cols", name);
        int[] perm = null;
        if (o.path("perm").asBoolean()) {
            Tensor t = tensor(src, name + ".perm", cols <= Short.MAX_VALUE + 1 ? DType.I16 : DType.I32, cols);
            perm = new int[cols];
            boolean[] seen = new boolean[cols];
            for (int i = 0; i < cols; i++) {
                perm[i] = t.dtype() == DType.I16 ? getShort(t.bytes(), i) : getInt(t.bytes(), i);
                if (perm[i] < 0 || perm[i] >= cols || seen[perm[i]]) {
                    throw new IllegalArgumentException("tensor '" + name + ".perm' is not a permutation of " + cols
                            + " columns (entry " + i + " = " + perm[i] + ")");
                }
                seen[perm[i]] = true;
            }
        }
        float[] normScale = null;
        float[] normBias = null;
        if (o.path("norm").asBoolean()) {
            normScale = halfs(tensor(src, name + ".norm_scale", DType.F16, cols));
            normBias = halfs(tensor(src, name + ".norm_bias", DType.F16, cols));
        }
        // every segment's tensors are read and checked first, then the segments' column ranges
        List<int[]> ranges = new ArrayList<>();
        List<Consumer<PackedMatrixBuilder>> segments = new ArrayList<>();
        for (JsonNode so : o.path("segments")) {
            String role = so.path("role").asText();
            if (!role.isEmpty() && !role.equals("outlier_")) {
                throw new IllegalArgumentException("layout of '" + name + "': unknown segment role '" + role + "'");
            }
            int from = req(so, "from", name);
            int to = req(so, "to", name);
            ranges.add(new int[]{from, to});
            int width = to - from;
            String p = name + "." + role;
            segments.add(switch (so.path("type").asText()) {
                case "scalar" -> {
                    int bits = req(so, "bits", name);
                    int g = req(so, "group_size", name);
                    int groups = (width + g - 1) / g;
                    int[] codes = unpacked(src, p + "indices", (long) rows * width, bits);
                    float[] scales = halfs(tensor(src, p + "scales", DType.F16, (long) rows * groups));
                    int[] zeros = unpacked(src, p + "zeros", (long) rows * groups, bits);
                    boolean symmetric = so.path("symmetric").asBoolean();
                    yield b -> b.scalar(role, from, to, bits, g, symmetric, codes, scales, zeros);
                }
                case "vector" -> readVector(name, so, role, from, to, rows, src);
                default -> throw new IllegalArgumentException("layout of '" + name + "': unknown segment type "
                        + so.path("type"));
            });
        }
        int at = 0;
        for (int[] r : ranges) {
            if (r[0] != at || r[1] <= r[0]) {
                throw new IllegalArgumentException("segments must cover the columns in order; got [" + r[0] + ", "
                        + r[1] + ") at column " + at);
            }
            at = r[1];
        }
        if (at != cols) {
            throw new IllegalArgumentException("segments cover " + at + " of " + cols + " columns");
        }
        PackedMatrixBuilder b = PackedMatrix.builder(rows, cols).method(o.path("method").asText());
        segments.forEach(s -> s.accept(b));
        if (perm != null) {
            b.permutation(perm);
        }
        if (normScale != null) {
            b.norm(normScale, normBias);
        }
        return b.build();
    }

    /** A vector segment's tensors, read and checked; the call that adds the segment to a builder. */
    private static Consumer<PackedMatrixBuilder> readVector(String name, JsonNode so, String role, int from, int to,
                                                            int rows, TensorSource src) {
        int width = to - from;
        String p = name + "." + role;
        Axis axis = switch (so.path("axis").asText()) {
            case "in" -> Axis.IN;
            case "out" -> Axis.OUT;
            default -> throw new IllegalArgumentException("layout of '" + name + "': unknown axis " + so.path("axis"));
        };
        int d = req(so, "dim", name);
        int gRows = req(so, "group_rows", name);
        int gCols = req(so, "group_cols", name);
        if ((axis == Axis.IN ? width : rows) % d != 0) {
            throw new IllegalArgumentException("layout of '" + name + "': dim " + d + " does not divide the segment");
        }
        int groups = Segment.Vector.groups(rows, width, gRows, gCols);
        int n = Segment.Vector.vectors(axis, rows, width, d);
        List<StageValues> stages = new ArrayList<>();
        int i = 0;
        for (JsonNode sto : so.path("stages")) {
            String sp = p + PackedLayers.stagePrefix(i++);
            int k = req(sto, "k", name);
            int[] idx = unpacked(src, sp + "indices", n, Stage.indexBits(k));
            for (int v : idx) {
                if (v >= k) {
                    throw new IllegalArgumentException("tensor '" + sp + "indices' holds index " + v
                            + " of a " + k + "-centroid codebook");
                }
            }
            long size = (long) groups * k * d;
            JsonNode shared = sto.get("codebook_tensor");
            if (shared != null) {
                String t = shared.asText();
                if (!t.startsWith(PackedLayers.SHARED_PREFIX) || groups != 1
                        || !sto.path("codebook").asText().equals("f16")) {
                    throw new IllegalArgumentException("layout of '" + name + "': a shared codebook must be"
                            + " an f16 tensor named " + PackedLayers.SHARED_PREFIX
                            + "… for a single codebook group, got '" + t + "' for " + groups + " groups");
                }
                stages.add(new StageValues(k, CodebookFormat.F16, halfs(tensor(src, t, DType.F16, size)), null, idx,
                        t));
            } else if (sto.path("codebook").asText().equals("int8")) {
                Tensor t = tensor(src, sp + "codebook", DType.I8, size);
                float[] sc = halfs(tensor(src, sp + "codebook_scale", DType.F16, groups));
                float[] cb = new float[(int) size];
                for (int j = 0; j < cb.length; j++) {
                    cb[j] = t.bytes()[j] * sc[j / (k * d)];
                }
                stages.add(new StageValues(k, CodebookFormat.INT8, cb, sc, idx));
            } else {
                stages.add(new StageValues(k, CodebookFormat.F16, halfs(tensor(src, sp + "codebook", DType.F16, size)),
                        null, idx));
            }
        }
        if (stages.isEmpty()) {
            throw new IllegalArgumentException("a vector encoding needs at least one stage");
        }
        BlockScaleValues bs = null;
        JsonNode bo = so.path("block_scales");
        if (!bo.isMissingNode()) {
            int bc = req(bo, "block_cols", name);
            int bits = req(bo, "bits", name);
            int codes = rows * ((width + bc - 1) / bc);
            bs = new BlockScaleValues(bc, bits, (float) bo.path("offset").asDouble(),
                    (float) bo.path("step").asDouble(), unpacked(src, p + "block_scales", codes, bits));
        }
        BlockScaleValues blockScales = bs;
        return b -> b.vector(role, from, to, axis, d, gRows, gCols, stages, blockScales);
    }

    private static int req(JsonNode o, String field, String name) {
        JsonNode n = o.get(field);
        if (n == null || !n.canConvertToInt() || n.asInt() < 0) {
            throw new IllegalArgumentException("layout of '" + name + "' lacks a valid '" + field + "'");
        }
        return n.asInt();
    }

    private static Tensor tensor(TensorSource src, String name, DType dtype, long elements) {
        Tensor t = src.get(name);
        if (t == null) {
            throw new IllegalArgumentException("tensor '" + name + "' is missing");
        }
        if (t.dtype() != dtype || t.bytes().length != elements * dtype.bytes()) {
            throw new IllegalArgumentException("tensor '" + name + "' is " + t.dtype() + " with " + t.bytes().length
                    + " bytes; the layout needs " + dtype + " x " + elements);
        }
        return t;
    }

    private static int[] unpacked(TensorSource src, String name, long count, int bits) {
        Tensor t = src.get(name);
        if (t == null) {
            throw new IllegalArgumentException("tensor '" + name + "' is missing");
        }
        long need = BitPacking.packedBytes(count, bits);
        if (t.dtype() != DType.U8 || t.bytes().length != need) {
            throw new IllegalArgumentException("tensor '" + name + "' is " + t.dtype() + " with " + t.bytes().length
                    + " bytes; " + count + " values of " + bits + " bits need U8 x " + need);
        }
        return BitPacking.unpack(t.bytes(), Math.toIntExact(count), bits);
    }

    private static float[] halfs(Tensor t) {
        float[] out = new float[t.bytes().length / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.float16ToFloat((short) getShort(t.bytes(), i));
        }
        return out;
    }

    private static int getShort(byte[] b, int i) {
        return (short) ((b[2 * i] & 0xff) | (b[2 * i + 1] << 8));
    }

    private static int getInt(byte[] b, int i) {
        int v = 0;
        for (int j = 0; j < 4; j++) {
            v |= (b[4 * i + j] & 0xff) << (8 * j);
        }
        return v;
    }
}
