package io.vq4j.pack;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.packed.BitPacking;
import io.vq4j.kernels.packed.BlockScales;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.Stage;

import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32C;

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
 * Format 2 (written since) adds {@code crc32c}, the layout's last member: the CRC32C of every
 * tensor the layout reads (keyed by the name without the {@code <name>.} prefix; a shared
 * codebook by its full name) and, under "layout", of the layout's own text up to that member;
 * checked on read unless the caller says not to. Format 1 (no checksums) is still read.
 * A layer is a {@link PackedMatrix} both ways: {@link #write} takes the one a method built,
 * {@link #read} builds one from the tensors; the model loader and the kernels use that same
 * object.
 */
public final class PackedLayers {
    public static final String META_PREFIX = "vq4j.layer.";
    /** Names of codebook tensors shared by several layers start with this. */
    public static final String SHARED_PREFIX = "vq4j.shared.";
    /** The layout format this version writes; it reads 1 too. */
    public static final int FORMAT = 2;
    /** The layout's field of tensor checksums (format 2). */
    static final String CRC_KEY = "crc32c";
    /** How the checksums member starts: the layout's last member, as written. */
    static final String CRC_MEMBER = ",\"" + CRC_KEY + "\":";
    /** The key of the layout's own checksum (of its text up to {@link #CRC_MEMBER}) among the tensors'. */
    static final String LAYOUT_CRC = "layout";
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

    /**
     * A layer as the file holds it, made once ({@link #pack}): its layout record (stored under
     * {@code META_PREFIX + name}) and its tensors. The report counts these bytes and the shard
     * writes these tensors, so the count is the file's and the layer is packed once, not three
     * times (two for the count, one for the shard: a few seconds a Llama-2-7B block).
     */
    public record Packed(String name, String layout, List<Part> parts) {
        public Packed {
            parts = List.copyOf(parts);
        }

        /** The layer's bytes in the file: its tensors' data and its layout record. */
        public long bytes() {
            long b = layout.getBytes(StandardCharsets.UTF_8).length;
            for (Part p : parts) {
                b += p.bytes().length;
            }
            return b;
        }
    }

    /** The layer {@code name} packed for a file: its layout record and its tensors. */
    public static Packed pack(String name, PackedMatrix q) {
        List<Part> parts = parts(name, q);
        return new Packed(name, layoutJson(q, name, parts), parts);
    }

    /** The layout JSON stored under {@code META_PREFIX + name} (the same for any name). */
    public static String layoutJson(PackedMatrix q) {
        return layoutJson(q, "", parts("", q));
    }

    /** The layout of q whose tensors are {@code parts}, named {@code name.…}. */
    private static String layoutJson(PackedMatrix q, String name, List<Part> parts) {
        ObjectNode o = JSON.createObjectNode();
        o.put("format", FORMAT);
        o.put("method", q.method());
        o.put("rows", q.rows());
        o.put("cols", q.cols());
        o.put("perm", q.permOffset() >= 0);
        o.put("norm", q.normScaleOffset() >= 0);
        ArrayNode segs = o.putArray("segments");
        for (Segment s : q.segments()) {
            ObjectNode so = segs.addObject();
            so.put("role", s.role());
            so.put("from", s.from());
            so.put("to", s.to());
            switch (s) {
                case Segment.Scalar sc -> {
                    so.put("type", "scalar");
                    so.put("bits", sc.bits());
                    so.put("group_size", sc.groupSize());
                    so.put("symmetric", sc.symmetric());
                }
                case Segment.Vector v -> {
                    so.put("type", "vector");
                    so.put("axis", v.axis().name().toLowerCase());
                    so.put("dim", v.dim());
                    so.put("group_rows", v.groupRows());
                    so.put("group_cols", v.groupCols());
                    ArrayNode st = so.putArray("stages");
                    for (Stage stage : q.stages(v)) {
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
                case Segment.Dense d -> throw denseRefused();
            }
        }
        Map<String, String> crcs = new TreeMap<>();
        for (Part p : parts) {
            crcs.put(p.name().substring(name.length() + 1), hex(crc32c(p.bytes())));
        }
        for (Segment s : q.segments()) {
            if (s instanceof Segment.Vector v) {
                for (Stage st : q.stages(v)) {
                    if (st.sharedTensor() != null) {
                        crcs.put(st.sharedTensor(), hex(crc32c(f16(q.codebooks(v, st)))));
                    }
                }
            }
        }
        // the checksums come last, and the layout's own is that of the text before them
        String text = o.toString();
        String before = text.substring(0, text.length() - 1);
        crcs.put(LAYOUT_CRC, hex(crc32c(before.getBytes(StandardCharsets.UTF_8))));
        ObjectNode c = JSON.createObjectNode();
        crcs.forEach(c::put);
        return before + CRC_MEMBER + c + "}";
    }

    /** CRC32C (Castagnoli) of the bytes, as the layout records it. */
    static int crc32c(byte[] bytes) {
        CRC32C c = new CRC32C();
        c.update(bytes);
        return (int) c.getValue();
    }

    static String hex(int crc) {
        return String.format(Locale.ROOT, "%08x", crc);
    }

    /** The tensors of a layer, in a fixed order. */
    public static List<Part> parts(String name, PackedMatrix q) {
        List<Part> parts = new ArrayList<>();
        int rows = q.rows();
        int[] perm = q.perm();
        if (perm != null) {
            boolean small = q.cols() <= Short.MAX_VALUE + 1;
            byte[] b = new byte[q.cols() * (small ? 2 : 4)];
            for (int i = 0; i < q.cols(); i++) {
                int v = perm[i];
                if (small) {
                    putShort(b, i, (short) v);
                } else {
                    putInt(b, i, v);
                }
            }
            parts.add(new Part(name + ".perm", small ? DType.I16 : DType.I32, new long[]{q.cols()}, b));
        }
        if (q.normScaleOffset() >= 0) {
            parts.add(new Part(name + ".norm_scale", DType.F16, new long[]{q.cols()}, f16(q.normScale())));
            parts.add(new Part(name + ".norm_bias", DType.F16, new long[]{q.cols()}, f16(q.normBias())));
        }
        for (Segment s : q.segments()) {
            String p = name + "." + s.role();
            switch (s) {
                case Segment.Scalar sc -> {
                    parts.add(packed(p + "indices", q.codes(sc), sc.bits()));
                    parts.add(new Part(p + "scales", DType.F16, new long[]{rows, sc.groups()}, f16(q.scales(sc))));
                    parts.add(packed(p + "zeros", q.zeros(sc), sc.bits()));
                }
                case Segment.Vector v -> {
                    int groups = v.groups(rows);
                    List<Stage> stages = q.stages(v);
                    for (int i = 0; i < stages.size(); i++) {
                        Stage st = stages.get(i);
                        String sp = p + stagePrefix(i);
                        parts.add(packed(sp + "indices", q.indices(v, st), st.indexBits()));
                        long[] shape = {groups, st.k(), v.dim()};
                        if (st.sharedTensor() != null) {
                            continue; // stored once, by sharedCodebook()
                        }
                        float[] book = q.codebooks(v, st);
                        if (st.format() == CodebookFormat.F16) {
                            parts.add(new Part(sp + "codebook", DType.F16, shape, f16(book)));
                        } else {
                            float[] scales = q.codebookScales(v, st);
                            int size = st.k() * v.dim();
                            byte[] codes = new byte[book.length];
                            for (int j = 0; j < codes.length; j++) {
                                codes[j] = Codebooks.int8Code(book[j], scales[j / size]);
                            }
                            parts.add(new Part(sp + "codebook", DType.I8, shape, codes));
                            parts.add(new Part(sp + "codebook_scale", DType.F16, new long[]{groups}, f16(scales)));
                        }
                    }
                    if (v.blockScales() != null) {
                        parts.add(packed(p + "block_scales", q.blockScaleCodes(v), v.blockScales().bits()));
                    }
                }
                case Segment.Dense d -> throw denseRefused();
            }
        }
        return parts;
    }

    private static IllegalArgumentException denseRefused() {
        return new IllegalArgumentException("a dense segment has no form in the packed format");
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
    public static void write(String name, PackedMatrix q, SafeTensorsWriter w) {
        write(pack(name, q), w);
    }

    /** Adds a packed layer's tensors and its layout metadata to a file being written. */
    public static void write(Packed p, SafeTensorsWriter w) {
        w.metadata(META_PREFIX + p.name(), p.layout());
        for (Part part : p.parts()) {
            w.addBytes(part.name(), part.dtype(), part.shape(), part.bytes());
        }
    }

    static String stagePrefix(int i) {
        return i == 0 ? "" : i == 1 ? "res_" : "res" + (i + 1) + "_";
    }

    /**
     * Reads a layer back from its layout JSON and tensors. Every field's range and every
     * tensor's dtype, size and (format 2) CRC32C is checked against the layout; a mismatch is an
     * IllegalArgumentException, one line naming the layer's field or the tensor.
     */
    public static PackedMatrix read(String name, String layout, TensorSource src) {
        return read(name, layout, src, true);
    }

    /** {@link #read(String, String, TensorSource)}, comparing the checksums only with {@code verify}. */
    public static PackedMatrix read(String name, String layout, TensorSource src, boolean verify) {
        return LayoutReader.read(name, layout, src, verify);
    }

    /** The format number a layout declares (1: no checksums, 2: CRC32C per tensor), 0 if unreadable. */
    public static int format(String layout) {
        return LayoutReader.format(layout);
    }

    /** Bits per weight the layout promises, without any overhead: Σ segments' index bits / weights. */
    public static double nominalBitsPerWeight(PackedMatrix q) {
        double bits = 0;
        for (Segment s : q.segments()) {
            double w = (double) q.rows() * s.width();
            bits += switch (s) {
                case Segment.Scalar sc -> w * sc.bits();
                case Segment.Vector v -> q.stages(v).stream().mapToDouble(st -> w * st.indexBits() / v.dim()).sum();
                case Segment.Dense d -> w * d.bits();
            };
        }
        return bits / q.weights();
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

    private static void putShort(byte[] b, int i, short v) {
        b[2 * i] = (byte) v;
        b[2 * i + 1] = (byte) (v >> 8);
    }

    private static void putInt(byte[] b, int i, int v) {
        for (int j = 0; j < 4; j++) {
            b[4 * i + j] = (byte) (v >> (8 * j));
        }
    }
}
