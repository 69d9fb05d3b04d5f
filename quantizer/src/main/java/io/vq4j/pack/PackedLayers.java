package io.vq4j.pack;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.packed.BitPacking;
import io.vq4j.pack.QuantizedLayer.Axis;
import io.vq4j.pack.QuantizedLayer.BlockScales;
import io.vq4j.pack.QuantizedLayer.CodebookFormat;
import io.vq4j.pack.QuantizedLayer.Encoding;
import io.vq4j.pack.QuantizedLayer.Scalar;
import io.vq4j.pack.QuantizedLayer.Segment;
import io.vq4j.pack.QuantizedLayer.Stage;
import io.vq4j.pack.QuantizedLayer.Vector;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The packed format of one quantized linear layer {@code <name>} (e.g.
 * model.layers.0.mlp.down_proj) inside a safetensors file:
 * <ul>
 *   <li>header metadata {@code vq4j.layer.<name>}: the layout as JSON (method, shape, and per
 *       segment its encoding's parameters);</li>
 *   <li>{@code <name>.perm} (I16, or I32 past 32,767 columns), {@code <name>.norm_scale} and
 *       {@code <name>.norm_bias} (F16), when present;</li>
 *   <li>per segment, with its role as prefix ("" or "outlier_"): scalar —
 *       {@code indices} (U8, codes bit-packed at {@code bits}), {@code scales} (F16 rows×groups),
 *       {@code zeros} (U8, bit-packed at {@code bits}); vector — per stage, prefix "" for the first,
 *       "res_" for the second, "res3_", "res4_"… after: {@code indices} (U8, bit-packed at
 *       ceil(log2 k)), {@code codebook} (F16 groups×k×d, or I8 with {@code codebook_scale} F16
 *       per group); {@code block_scales} (U8, bit-packed) when blockwise normalisation is on.
 *       A stage whose layout names a {@code codebook_tensor} has no codebook tensor of its own: it
 *       uses that tensor ({@link #SHARED_PREFIX}…, F16 1×k×d), written once for all the layers
 *       sharing it ({@link #sharedCodebook}).</li>
 * </ul>
 * Bit packing is {@link BitPacking}'s: little-endian bit order, no padding between values.
 */
public final class PackedLayers {
    public static final String META_PREFIX = "vq4j.layer.";
    /** Names of codebook tensors shared by several layers start with this. */
    public static final String SHARED_PREFIX = "vq4j.shared.";
    private static final ObjectMapper JSON = new ObjectMapper();

    private PackedLayers() {
    }

    /** Reads tensors of a packed file (a {@code SafeTensorsDirectory} or file, adapted). */
    public interface TensorSource {
        boolean contains(String name);

        /** dtype, shape and raw little-endian bytes; absent → null. */
        Tensor get(String name);

        /**
         * Safetensors files as one source: a name is looked up in each file in turn (a layer's
         * file first, then the one that holds the shared codebooks).
         */
        static TensorSource of(SafeTensorsFile... files) {
            return new TensorSource() {
                @Override
                public boolean contains(String name) {
                    for (SafeTensorsFile f : files) {
                        if (f.contains(name)) {
                            return true;
                        }
                    }
                    return false;
                }

                @Override
                public Tensor get(String name) {
                    for (SafeTensorsFile f : files) {
                        if (f.contains(name)) {
                            SafeTensorsFile.TensorInfo t = f.info(name);
                            return new Tensor(t.dtype(), t.shape(), f.data(name).toArray(ValueLayout.JAVA_BYTE));
                        }
                    }
                    return null;
                }
            };
        }

        /** Every file of a directory as one source. */
        static TensorSource of(SafeTensorsDirectory st) {
            return of(st.files().toArray(SafeTensorsFile[]::new));
        }
    }

    public record Tensor(DType dtype, long[] shape, byte[] bytes) {
    }

    /** One tensor the layer writes. */
    public record Part(String name, DType dtype, long[] shape, byte[] bytes) {
    }

    /** The layout JSON stored under {@code META_PREFIX + name}. */
    public static String layoutJson(QuantizedLayer q) {
        ObjectNode o = JSON.createObjectNode();
        o.put("format", 1);
        o.put("method", q.method());
        o.put("rows", q.rows());
        o.put("cols", q.cols());
        o.put("perm", q.perm() != null);
        o.put("norm", q.normScale() != null);
        ArrayNode segs = o.putArray("segments");
        for (Segment s : q.segments()) {
            ObjectNode so = segs.addObject();
            so.put("role", s.role());
            so.put("from", s.from());
            so.put("to", s.to());
            switch (s.encoding()) {
                case Scalar sc -> {
                    so.put("type", "scalar");
                    so.put("bits", sc.bits());
                    so.put("group_size", sc.groupSize());
                    so.put("symmetric", sc.symmetric());
                }
                case Vector v -> {
                    so.put("type", "vector");
                    so.put("axis", v.axis().name().toLowerCase());
                    so.put("dim", v.dim());
                    so.put("group_rows", v.groupRows());
                    so.put("group_cols", v.groupCols());
                    ArrayNode st = so.putArray("stages");
                    for (Stage stage : v.stages()) {
                        ObjectNode sto = st.addObject();
                        sto.put("k", stage.k());
                        sto.put("index_bits", stage.indexBits());
                        sto.put("codebook", stage.format().name().toLowerCase());
                        if (stage.sharedTensor() != null) {
                            sto.put("codebook_tensor", stage.sharedTensor());
                        }
                    }
                    if (v.blockScales() != null) {
                        BlockScales b = v.blockScales();
                        ObjectNode bo = so.putObject("block_scales");
                        bo.put("block_cols", b.blockCols());
                        bo.put("bits", b.bits());
                        bo.put("offset", b.offset());
                        bo.put("step", b.step());
                    }
                }
            }
        }
        return o.toString();
    }

    /** The tensors of a layer, in a fixed order. */
    public static List<Part> parts(String name, QuantizedLayer q) {
        List<Part> parts = new ArrayList<>();
        int rows = q.rows();
        if (q.perm() != null) {
            boolean small = q.cols() <= Short.MAX_VALUE + 1;
            byte[] b = new byte[q.cols() * (small ? 2 : 4)];
            for (int i = 0; i < q.cols(); i++) {
                int v = q.perm()[i];
                if (small) {
                    putShort(b, i, (short) v);
                } else {
                    putInt(b, i, v);
                }
            }
            parts.add(new Part(name + ".perm", small ? DType.I16 : DType.I32, new long[]{q.cols()}, b));
        }
        if (q.normScale() != null) {
            parts.add(new Part(name + ".norm_scale", DType.F16, new long[]{q.cols()}, f16(q.normScale())));
            parts.add(new Part(name + ".norm_bias", DType.F16, new long[]{q.cols()}, f16(q.normBias())));
        }
        for (Segment s : q.segments()) {
            String p = name + "." + s.role();
            switch (s.encoding()) {
                case Scalar sc -> {
                    int groups = (s.width() + sc.groupSize() - 1) / sc.groupSize();
                    parts.add(packed(p + "indices", sc.codes(), sc.bits()));
                    parts.add(new Part(p + "scales", DType.F16, new long[]{rows, groups}, f16(sc.scales())));
                    parts.add(packed(p + "zeros", sc.zeros(), sc.bits()));
                }
                case Vector v -> {
                    int groups = Dequantizer.groups(v, rows, s.width());
                    for (int i = 0; i < v.stages().size(); i++) {
                        Stage st = v.stages().get(i);
                        String sp = p + stagePrefix(i);
                        parts.add(packed(sp + "indices", st.indices(), st.indexBits()));
                        long[] shape = {groups, st.k(), v.dim()};
                        if (st.sharedTensor() != null) {
                            continue; // stored once, by sharedCodebook()
                        }
                        if (st.format() == CodebookFormat.F16) {
                            parts.add(new Part(sp + "codebook", DType.F16, shape, f16(st.codebooks())));
                        } else {
                            int size = st.k() * v.dim();
                            byte[] codes = new byte[st.codebooks().length];
                            for (int j = 0; j < codes.length; j++) {
                                codes[j] = Codebooks.int8Code(st.codebooks()[j], st.codebookScales()[j / size]);
                            }
                            parts.add(new Part(sp + "codebook", DType.I8, shape, codes));
                            parts.add(new Part(sp + "codebook_scale", DType.F16, new long[]{groups},
                                    f16(st.codebookScales())));
                        }
                    }
                    if (v.blockScales() != null) {
                        parts.add(packed(p + "block_scales", v.blockScales().codes(), v.blockScales().bits()));
                    }
                }
            }
        }
        return parts;
    }

    /**
     * The tensor of a codebook shared by several layers (their stages' {@code sharedTensor}):
     * F16, shape 1 × k × d. Written once per packed directory.
     */
    public static Part sharedCodebook(String tensor, int k, int d, float[] book) {
        if (!tensor.startsWith(SHARED_PREFIX) || book.length != k * d) {
            throw new IllegalArgumentException("shared codebook '" + tensor + "': name must start with " + SHARED_PREFIX
                    + " and hold k x d = " + k * d + " values, got " + book.length);
        }
        return new Part(tensor, DType.F16, new long[]{1, k, d}, f16(book));
    }

    /** Adds the layer's tensors and its layout metadata to a file being written. */
    public static void write(String name, QuantizedLayer q, SafeTensorsWriter w) {
        w.metadata(META_PREFIX + name, layoutJson(q));
        for (Part p : parts(name, q)) {
            w.addBytes(p.name(), p.dtype(), p.shape(), p.bytes());
        }
    }

    static String stagePrefix(int i) {
        return i == 0 ? "" : i == 1 ? "res_" : "res" + (i + 1) + "_";
    }

    /**
     * Reads a layer back from its layout JSON and tensors. Every tensor's dtype and size is
     * checked against the layout; a mismatch is an IllegalArgumentException naming the tensor.
     */
    public static QuantizedLayer read(String name, String layout, TensorSource src) {
        JsonNode o;
        try {
            o = JSON.readTree(layout);
        } catch (IOException e) {
            throw new IllegalArgumentException("layout of '" + name + "' is not JSON: " + e.getMessage().lines().findFirst().orElse(""));
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
        List<Segment> segments = new ArrayList<>();
        for (JsonNode so : o.path("segments")) {
            String role = so.path("role").asText();
            if (!role.isEmpty() && !role.equals("outlier_")) {
                throw new IllegalArgumentException("layout of '" + name + "': unknown segment role '" + role + "'");
            }
            int from = req(so, "from", name);
            int to = req(so, "to", name);
            int width = to - from;
            String p = name + "." + role;
            Encoding enc = switch (so.path("type").asText()) {
                case "scalar" -> {
                    int bits = req(so, "bits", name);
                    int g = req(so, "group_size", name);
                    int groups = (width + g - 1) / g;
                    int[] codes = unpacked(src, p + "indices", (long) rows * width, bits);
                    float[] scales = halfs(tensor(src, p + "scales", DType.F16, (long) rows * groups));
                    int[] zeros = unpacked(src, p + "zeros", (long) rows * groups, bits);
                    yield new Scalar(bits, g, so.path("symmetric").asBoolean(), codes, scales, zeros);
                }
                case "vector" -> {
                    Axis axis = switch (so.path("axis").asText()) {
                        case "in" -> Axis.IN;
                        case "out" -> Axis.OUT;
                        default -> throw new IllegalArgumentException("layout of '" + name + "': unknown axis "
                                + so.path("axis"));
                    };
                    int d = req(so, "dim", name);
                    int gRows = req(so, "group_rows", name);
                    int gCols = req(so, "group_cols", name);
                    if ((axis == Axis.IN ? width : rows) % d != 0) {
                        throw new IllegalArgumentException("layout of '" + name + "': dim " + d + " does not divide the segment");
                    }
                    Vector shapeOnly = new Vector(axis, d, gRows, gCols, List.of(new Stage(1, CodebookFormat.F16,
                            new float[0], null, new int[0])), null);
                    int groups = Dequantizer.groups(shapeOnly, rows, width);
                    int n = Dequantizer.vectors(shapeOnly, rows, width);
                    List<Stage> stages = new ArrayList<>();
                    int i = 0;
                    for (JsonNode sto : so.path("stages")) {
                        String sp = p + stagePrefix(i++);
                        int k = req(sto, "k", name);
                        Stage probe = new Stage(k, CodebookFormat.F16, null, null, null);
                        int[] idx = unpacked(src, sp + "indices", n, probe.indexBits());
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
                            if (!t.startsWith(SHARED_PREFIX) || groups != 1
                                    || !sto.path("codebook").asText().equals("f16")) {
                                throw new IllegalArgumentException("layout of '" + name + "': a shared codebook must be"
                                        + " an f16 tensor named " + SHARED_PREFIX + "… for a single codebook group, got '"
                                        + t + "' for " + groups + " groups");
                            }
                            stages.add(new Stage(k, CodebookFormat.F16, halfs(tensor(src, t, DType.F16, size)), null,
                                    idx, t));
                        } else if (sto.path("codebook").asText().equals("int8")) {
                            Tensor t = tensor(src, sp + "codebook", DType.I8, size);
                            float[] sc = halfs(tensor(src, sp + "codebook_scale", DType.F16, groups));
                            float[] cb = new float[(int) size];
                            for (int j = 0; j < cb.length; j++) {
                                cb[j] = t.bytes()[j] * sc[j / (k * d)];
                            }
                            stages.add(new Stage(k, CodebookFormat.INT8, cb, sc, idx));
                        } else {
                            stages.add(new Stage(k, CodebookFormat.F16,
                                    halfs(tensor(src, sp + "codebook", DType.F16, size)), null, idx));
                        }
                    }
                    BlockScales bs = null;
                    JsonNode bo = so.path("block_scales");
                    if (!bo.isMissingNode()) {
                        int bc = req(bo, "block_cols", name);
                        int bits = req(bo, "bits", name);
                        int codes = rows * ((width + bc - 1) / bc);
                        bs = new BlockScales(bc, bits, (float) bo.path("offset").asDouble(),
                                (float) bo.path("step").asDouble(), unpacked(src, p + "block_scales", codes, bits));
                    }
                    yield new Vector(axis, d, gRows, gCols, stages, bs);
                }
                default -> throw new IllegalArgumentException("layout of '" + name + "': unknown segment type "
                        + so.path("type"));
            };
            segments.add(new Segment(role, from, to, enc));
        }
        return new QuantizedLayer(o.path("method").asText(), rows, cols, perm, normScale, normBias, segments);
    }

    /** Bits per weight the layout promises, without any overhead: Σ segments' index bits / weights. */
    public static double nominalBitsPerWeight(QuantizedLayer q) {
        double bits = 0;
        for (Segment s : q.segments()) {
            double w = (double) q.rows() * s.width();
            bits += switch (s.encoding()) {
                case Scalar sc -> w * sc.bits();
                case Vector v -> v.stages().stream().mapToDouble(st -> w * st.indexBits() / v.dim()).sum();
            };
        }
        return bits / q.weights();
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

    private static Part packed(String name, int[] values, int bits) {
        byte[] b = BitPacking.pack(values, bits);
        return new Part(name, DType.U8, new long[]{b.length}, b);
    }

    private static byte[] f16(float[] v) {
        byte[] b = new byte[v.length * 2];
        for (int i = 0; i < v.length; i++) {
            short h = Float.floatToFloat16(v[i]);
            if (Float.float16ToFloat(h) != v[i] && !Float.isNaN(v[i])) {
                throw new IllegalArgumentException("value " + v[i] + " is not exactly representable in fp16");
            }
            putShort(b, i, h);
        }
        return b;
    }

    private static float[] halfs(Tensor t) {
        float[] out = new float[t.bytes().length / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.float16ToFloat((short) getShort(t.bytes(), i));
        }
        return out;
    }

    private static void putShort(byte[] b, int i, short v) {
        b[2 * i] = (byte) v;
        b[2 * i + 1] = (byte) (v >> 8);
    }

    private static void putInt(byte[] b, int i, int v) {
        for (int j = 0; j < 4; j++) {
            b[4 * i + j] = (byte) (v >> (8 * j));
        }
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
