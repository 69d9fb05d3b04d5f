package io.vq4j.pack;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.vq4j.io.DType;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.BitPacking;
import io.vq4j.kernels.packed.BlockScaleValues;
import io.vq4j.kernels.packed.BlockScales;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedMatrixBuilder;
import io.vq4j.kernels.packed.Stage;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.pack.PackedLayers.Tensor;
import io.vq4j.pack.PackedLayers.TensorSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The reading half of {@link PackedLayers}: a layer's layout JSON and tensors, every field's
 * range and every tensor checked against the layout (and, in format 2, against its CRC32C), into
 * the {@link PackedMatrix} the format describes. Every refusal is an IllegalArgumentException
 * with one line naming the layer and the field or tensor.
 */
final class LayoutReader {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    private static final Set<String> LAYER_KEYS = Set.of("format", "method", "rows", "cols", "perm", "norm",
            "segments", PackedLayers.CRC_KEY);
    private static final Set<String> SCALAR_KEYS = Set.of("role", "from", "to", "type", "bits", "group_size",
            "symmetric");
    private static final Set<String> VECTOR_KEYS = Set.of("role", "from", "to", "type", "axis", "dim", "group_rows",
            "group_cols", "stages", "block_scales");
    private static final Set<String> STAGE_KEYS = Set.of("k", "index_bits", "codebook", "codebook_tensor");
    private static final Set<String> BLOCK_KEYS = Set.of("block_cols", "bits", "offset", "step");

    private final String name;
    private final TensorSource src;
    private final boolean verify;
    /** Format 2: tensor name less the layer's prefix → CRC32C the layout records; null in format 1. */
    private final Map<String, Integer> crcs;
    private final Set<String> read = new HashSet<>();

    private LayoutReader(String name, TensorSource src, boolean verify, Map<String, Integer> crcs) {
        this.name = name;
        this.src = src;
        this.verify = verify;
        this.crcs = crcs;
    }

    /**
     * Reads a layer back from its layout JSON and tensors; with {@code verify}, each tensor of a
     * format-2 layout must match its recorded CRC32C.
     */
    static PackedMatrix read(String name, String layout, TensorSource src, boolean verify) {
        JsonNode o;
        try {
            o = JSON.readTree(layout);
        } catch (IOException e) {
            throw new IllegalArgumentException("layout of '" + name + "' is not JSON: "
                    + e.getMessage().lines().findFirst().orElse(""));
        }
        if (o == null || !o.isObject()) {
            throw new IllegalArgumentException("layout of '" + name + "' is not a JSON object");
        }
        JsonNode f = o.get("format");
        if (f == null || !f.isInt() || f.asInt() < 1 || f.asInt() > PackedLayers.FORMAT) {
            throw new IllegalArgumentException("layout of '" + name + "' has unknown format " + o.path("format")
                    + " (this version reads 1.." + PackedLayers.FORMAT + ")");
        }
        Map<String, Integer> crcs = null;
        if (f.asInt() >= 2) {
            crcs = crcs(o, name);
            Integer own = crcs.remove(PackedLayers.LAYOUT_CRC);
            int at = layout.lastIndexOf(PackedLayers.CRC_MEMBER);
            if (own == null || at < 0) {
                throw new IllegalArgumentException("layout of '" + name + "' (format 2) lacks its own checksum ('"
                        + PackedLayers.LAYOUT_CRC + "' in a last member '" + PackedLayers.CRC_KEY + "')");
            }
            int got = PackedLayers.crc32c(layout.substring(0, at).getBytes(StandardCharsets.UTF_8));
            if (verify && got != own) {
                throw new IllegalArgumentException("layout of '" + name + "' fails its CRC32C check (recorded "
                        + PackedLayers.hex(own) + ", computed " + PackedLayers.hex(got) + "): the file is corrupt");
            }
        }
        return new LayoutReader(name, src, verify, crcs).layer(o, f.asInt());
    }

    /** The format of a layout (1 or 2), as {@link #read} would take it; the layout must be a JSON object. */
    static int format(String layout) {
        try {
            return JSON.readTree(layout).path("format").asInt();
        } catch (IOException e) {
            return 0;
        }
    }

    private static Map<String, Integer> crcs(JsonNode o, String name) {
        JsonNode c = o.get(PackedLayers.CRC_KEY);
        if (c == null || !c.isObject()) {
            throw new IllegalArgumentException("layout of '" + name + "' (format 2) lacks its '"
                    + PackedLayers.CRC_KEY + "' object");
        }
        Map<String, Integer> out = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = c.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String v = e.getValue().isTextual() ? e.getValue().asText() : "";
            if (!v.matches("[0-9a-f]{8}")) {
                throw new IllegalArgumentException("layout of '" + name + "': " + PackedLayers.CRC_KEY + " of '"
                        + e.getKey() + "' is not 8 lower-case hex digits: " + e.getValue());
            }
            out.put(e.getKey(), Integer.parseUnsignedInt(v, 16));
        }
        return out;
    }

    private PackedMatrix layer(JsonNode o, int format) {
        keys(o, LAYER_KEYS, "the layer");
        if (format == 1 && o.has(PackedLayers.CRC_KEY)) {
            throw new IllegalArgumentException("layout of '" + name + "': format 1 has no '" + PackedLayers.CRC_KEY
                    + "'");
        }
        String method = text(o, "method", "");
        int rows = req(o, "rows", 1, Integer.MAX_VALUE);
        int cols = req(o, "cols", 1, Integer.MAX_VALUE);
        if ((long) rows * cols > Integer.MAX_VALUE) {
            throw bad("rows x cols = " + rows + " x " + cols + " is past the 2^31 - 1 weights a layer may hold");
        }
        int[] perm = null;
        if (flag(o, "perm")) {
            Tensor t = tensor(name + ".perm", cols <= Short.MAX_VALUE + 1 ? DType.I16 : DType.I32, cols);
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
        if (flag(o, "norm")) {
            normScale = halfs(tensor(name + ".norm_scale", DType.F16, cols));
            normBias = halfs(tensor(name + ".norm_bias", DType.F16, cols));
        }
        JsonNode segs = o.get("segments");
        if (segs == null || !segs.isArray() || segs.isEmpty()) {
            throw bad("'segments' must be a non-empty array");
        }
        // every segment's range is checked before its tensors are read, and its tensors before the next
        List<Consumer<PackedMatrixBuilder>> segments = new ArrayList<>();
        int at = 0;
        for (JsonNode so : segs) {
            if (!so.isObject()) {
                throw bad("a segment is not a JSON object");
            }
            String role = text(so, "role", null);
            if (!role.isEmpty() && !role.equals("outlier_")) {
                throw bad("unknown segment role '" + role + "'");
            }
            int from = req(so, "from", 0, cols);
            int to = req(so, "to", 0, cols);
            if (from != at || to <= from) {
                throw new IllegalArgumentException("layout of '" + name + "': segments must cover the columns in"
                        + " order; got [" + from + ", " + to + ") at column " + at);
            }
            at = to;
            String p = name + "." + role;
            String type = text(so, "type", null);
            segments.add(switch (type) {
                case "scalar" -> {
                    keys(so, SCALAR_KEYS, "a scalar segment");
                    int width = to - from;
                    int bits = req(so, "bits", 1, 16);
                    int g = req(so, "group_size", 1, Integer.MAX_VALUE);
                    int groups = (int) ((width + (long) g - 1) / g);
                    int[] codes = unpacked(p + "indices", (long) rows * width, bits);
                    float[] scales = halfs(tensor(p + "scales", DType.F16, (long) rows * groups));
                    int[] zeros = unpacked(p + "zeros", (long) rows * groups, bits);
                    boolean symmetric = flag(so, "symmetric");
                    yield b -> b.scalar(role, from, to, bits, g, symmetric, codes, scales, zeros);
                }
                case "vector" -> {
                    keys(so, VECTOR_KEYS, "a vector segment");
                    yield readVector(so, role, from, to, rows);
                }
                default -> throw bad("unknown segment type '" + type + "'");
            });
        }
        if (at != cols) {
            throw bad("segments cover " + at + " of " + cols + " columns");
        }
        if (crcs != null && !read.containsAll(crcs.keySet())) {
            Set<String> extra = new HashSet<>(crcs.keySet());
            extra.removeAll(read);
            throw bad(PackedLayers.CRC_KEY + " names a tensor the layout does not use: '"
                    + extra.stream().sorted().findFirst().orElseThrow() + "'");
        }
        PackedMatrixBuilder b = PackedMatrix.builder(rows, cols).method(method);
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
    private Consumer<PackedMatrixBuilder> readVector(JsonNode so, String role, int from, int to, int rows) {
        int width = to - from;
        String p = name + "." + role;
        String axisName = text(so, "axis", null);
        Axis axis = switch (axisName) {
            case "in" -> Axis.IN;
            case "out" -> Axis.OUT;
            default -> throw bad("unknown axis '" + axisName + "'");
        };
        int d = req(so, "dim", 1, 16);
        int gRows = req(so, "group_rows", 1, Integer.MAX_VALUE);
        int gCols = req(so, "group_cols", 1, Integer.MAX_VALUE);
        if ((axis == Axis.IN ? width : rows) % d != 0) {
            throw bad("dim " + d + " does not divide the segment's " + (axis == Axis.IN ? width + " columns"
                    : rows + " rows"));
        }
        long groups = ((rows + (long) gRows - 1) / gRows) * ((width + (long) gCols - 1) / gCols);
        int n = axis == Axis.IN ? rows * (width / d) : rows / d * width;
        JsonNode stageList = so.get("stages");
        if (stageList == null || !stageList.isArray() || stageList.isEmpty()) {
            throw bad("'stages' of a vector segment must be a non-empty array");
        }
        List<StageValues> stages = new ArrayList<>();
        int i = 0;
        for (JsonNode sto : stageList) {
            if (!sto.isObject()) {
                throw bad("a stage is not a JSON object");
            }
            keys(sto, STAGE_KEYS, "a stage");
            String sp = p + PackedLayers.stagePrefix(i++);
            int k = req(sto, "k", 1, 65536);
            int bits = req(sto, "index_bits", 1, 16);
            if (bits != Stage.indexBits(k)) {
                throw bad("index_bits " + bits + " of a " + k + "-centroid stage must be " + Stage.indexBits(k));
            }
            long size = groups * k * d;
            if (size > Integer.MAX_VALUE) {
                throw bad(groups + " codebook groups of " + k + " x " + d + " values are past 2^31 - 1 values");
            }
            String format = text(sto, "codebook", null);
            if (!format.equals("f16") && !format.equals("int8")) {
                throw bad("codebook format '" + format + "' is neither f16 nor int8");
            }
            JsonNode shared = sto.get("codebook_tensor");
            if (shared != null) {
                String t = shared.isTextual() ? shared.asText() : shared.toString();
                if (!shared.isTextual() || !t.startsWith(PackedLayers.SHARED_PREFIX) || groups != 1
                        || !format.equals("f16")) {
                    throw new IllegalArgumentException("layout of '" + name + "': a shared codebook must be"
                            + " an f16 tensor named " + PackedLayers.SHARED_PREFIX
                            + "… for a single codebook group, got '" + t + "' for " + groups + " groups");
                }
                float[] cb = halfs(tensor(t, DType.F16, size));
                int[] idx = indices(sp, n, k);
                stages.add(new StageValues(k, CodebookFormat.F16, cb, null, idx, t));
            } else if (format.equals("int8")) {
                Tensor t = tensor(sp + "codebook", DType.I8, size);
                float[] sc = halfs(tensor(sp + "codebook_scale", DType.F16, groups));
                float[] cb = new float[(int) size];
                for (int j = 0; j < cb.length; j++) {
                    cb[j] = t.bytes()[j] * sc[j / (k * d)];
                }
                int[] idx = indices(sp, n, k);
                stages.add(new StageValues(k, CodebookFormat.INT8, cb, sc, idx));
            } else {
                float[] cb = halfs(tensor(sp + "codebook", DType.F16, size));
                int[] idx = indices(sp, n, k);
                stages.add(new StageValues(k, CodebookFormat.F16, cb, null, idx));
            }
        }
        BlockScaleValues bs = null;
        JsonNode bo = so.get("block_scales");
        if (bo != null) {
            if (!bo.isObject()) {
                throw bad("'block_scales' is not a JSON object");
            }
            keys(bo, BLOCK_KEYS, "block_scales");
            int bc = req(bo, "block_cols", 1, Integer.MAX_VALUE);
            int bits = req(bo, "bits", 1, 16);
            float offset = finite(bo, "offset");
            float step = finite(bo, "step");
            // 2^(offset + code · step) is monotone in the code: the ends bound the table
            float last = BlockScales.scale(offset, step, (1 << bits) - 1);
            if (!Float.isFinite(last) || !Float.isFinite(BlockScales.scale(offset, step, 0))) {
                throw bad("block_scales offset " + offset + " and step " + step + " give a non-finite scale");
            }
            long codes = (long) rows * ((width + (long) bc - 1) / bc);
            bs = new BlockScaleValues(bc, bits, offset, step, unpacked(p + "block_scales", codes, bits));
        }
        BlockScaleValues blockScales = bs;
        return b -> b.vector(role, from, to, axis, d, gRows, gCols, stages, blockScales);
    }

    private int[] indices(String sp, int n, int k) {
        int[] idx = unpacked(sp + "indices", n, Stage.indexBits(k));
        for (int v : idx) {
            if (v >= k) {
                throw new IllegalArgumentException("tensor '" + sp + "indices' holds index " + v
                        + " of a " + k + "-centroid codebook");
            }
        }
        return idx;
    }

    private IllegalArgumentException bad(String what) {
        return new IllegalArgumentException("layout of '" + name + "': " + what);
    }

    private void keys(JsonNode o, Set<String> allowed, String what) {
        for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!allowed.contains(k)) {
                throw bad(what + " has an unknown field '" + k + "'");
            }
        }
    }

    /** An integer field in [min, max]: present, integral (16.7 is not 16), in range. */
    private int req(JsonNode o, String field, int min, int max) {
        JsonNode n = o.get(field);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.asLong() < min || n.asLong() > max) {
            throw bad("'" + field + "' must be an integer in " + min + ".." + max + ", got "
                    + (n == null ? "nothing" : n.toString()));
        }
        return n.asInt();
    }

    /** A boolean field; absent is false. */
    private boolean flag(JsonNode o, String field) {
        JsonNode n = o.get(field);
        if (n != null && !n.isBoolean()) {
            throw bad("'" + field + "' must be true or false, got " + n);
        }
        return n != null && n.asBoolean();
    }

    /** A string field; absent gives {@code absent}, or is an error where that is null. */
    private String text(JsonNode o, String field, String absent) {
        JsonNode n = o.get(field);
        if (n == null && absent != null) {
            return absent;
        }
        if (n == null || !n.isTextual()) {
            throw bad("'" + field + "' must be a string, got " + (n == null ? "nothing" : n.toString()));
        }
        return n.asText();
    }

    /** A number field that is a finite float. */
    private float finite(JsonNode o, String field) {
        JsonNode n = o.get(field);
        if (n == null || !n.isNumber() || !Float.isFinite((float) n.asDouble())) {
            throw bad("'" + field + "' must be a finite number, got " + (n == null ? "nothing" : n.toString()));
        }
        return (float) n.asDouble();
    }

    private Tensor tensor(String tensor, DType dtype, long elements) {
        Tensor t = src.get(tensor);
        if (t == null) {
            throw new IllegalArgumentException("tensor '" + tensor + "' is missing");
        }
        if (t.dtype() != dtype || t.bytes().length != elements * dtype.bytes()) {
            throw new IllegalArgumentException("tensor '" + tensor + "' is " + t.dtype() + " with "
                    + t.bytes().length + " bytes; the layout needs " + dtype + " x " + elements);
        }
        check(tensor, t);
        return t;
    }

    private int[] unpacked(String tensor, long count, int bits) {
        Tensor t = src.get(tensor);
        if (t == null) {
            throw new IllegalArgumentException("tensor '" + tensor + "' is missing");
        }
        long need = BitPacking.packedBytes(count, bits);
        if (t.dtype() != DType.U8 || t.bytes().length != need) {
            throw new IllegalArgumentException("tensor '" + tensor + "' is " + t.dtype() + " with "
                    + t.bytes().length + " bytes; " + count + " values of " + bits + " bits need U8 x " + need);
        }
        check(tensor, t);
        return BitPacking.unpack(t.bytes(), Math.toIntExact(count), bits);
    }

    /** Format 2: the tensor has a recorded CRC32C and, when verifying, its bytes match it. */
    private void check(String tensor, Tensor t) {
        String key = tensor.startsWith(name + ".") ? tensor.substring(name.length() + 1) : tensor;
        read.add(key);
        if (crcs == null) {
            return;
        }
        Integer want = crcs.get(key);
        if (want == null) {
            throw bad(PackedLayers.CRC_KEY + " has no checksum for tensor '" + tensor + "'");
        }
        if (verify) {
            int got = PackedLayers.crc32c(t.bytes());
            if (got != want) {
                throw new IllegalArgumentException("tensor '" + tensor + "' fails its CRC32C check (recorded "
                        + PackedLayers.hex(want) + ", computed " + PackedLayers.hex(got) + "): the file is corrupt");
            }
        }
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
