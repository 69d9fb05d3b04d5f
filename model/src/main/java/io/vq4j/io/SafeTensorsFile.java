package io.vq4j.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.vq4j.core.InputException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header
 * (tensor name → dtype, shape, data_offsets relative to the data area; optional
 * {@code __metadata__} of strings), then the data. Tensors are zero-copy slices of one
 * {@link MemorySegment}, so files beyond 2 GiB work. Every header field is checked before use,
 * so a corrupt file fails on open with one line, never later with an index error.
 */
public final class SafeTensorsFile implements AutoCloseable {
    /** Headers beyond this are corrupt, not large: real ones are a few MB at most. */
    static final long MAX_HEADER_BYTES = 100L << 20;
    // Duplicate names would silently shadow a tensor; trailing text means the length field is wrong.
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One tensor's header entry; {@code begin}/{@code end} are absolute byte offsets in the file. */
    public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        public long bytes() {
            return end - begin;
        }
    }

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafeTensorsFile(Path path, Arena arena, MemorySegment data, Map<String, TensorInfo> tensors,
                            Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafeTensorsFile open(Path path) {
        if (!Files.isRegularFile(path)) {
            throw InputException.at(path, "no such file");
        }
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            // the mapping outlives the channel; it is released when the arena closes
            return parse(path, arena, ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena));
        } catch (IOException e) {
            arena.close();
            throw InputException.at(path, "cannot read: " + e.getMessage());
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static SafeTensorsFile parse(Path path, Arena arena, MemorySegment seg) {
        long size = seg.byteSize();
        if (size < 8) {
            throw InputException.at(path, "truncated: " + size + " bytes, too short for a safetensors header length");
        }
        long headerLen = seg.get(I64, 0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
            throw InputException.at(path, "header length " + Long.toUnsignedString(headerLen)
                    + " is not sane (2 .. " + MAX_HEADER_BYTES + " bytes): not a safetensors file or corrupt");
        }
        if (8 + headerLen > size) {
            throw InputException.at(path, "header length " + headerLen + " runs past the end of the file ("
                    + size + " bytes): truncated");
        }
        byte[] header = seg.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        // strict: a malformed byte would otherwise become U+FFFD, and a name or a value another one
        ByteBuffer in = ByteBuffer.wrap(header);
        CharBuffer chars = CharBuffer.allocate(header.length);
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        if (utf8.decode(in, chars, true).isError() || utf8.flush(chars).isError()) {
            throw InputException.at(path, "header is not valid UTF-8 (byte " + (8 + in.position()) + " of the file)");
        }
        String text = chars.flip().toString();
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw InputException.at(path, "header is not valid JSON: " + oneLine(e.getOriginalMessage()));
        }
        if (root == null || !root.isObject()) {
            throw InputException.at(path, "header is not a JSON object");
        }
        long dataStart = 8 + headerLen;
        long dataLen = size - dataStart;
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                if (!e.getValue().isObject()) {
                    throw InputException.at(path, "__metadata__ is not an object");
                }
                e.getValue().fields().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) {
                        throw InputException.at(path, "__metadata__." + oneLine(m.getKey()) + " is not a string");
                    }
                    metadata.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            tensors.put(e.getKey(), tensor(path, e.getKey(), e.getValue(), dataStart, dataLen));
        }
        checkOverlaps(path, tensors);
        checkCoverage(path, tensors, dataStart, dataLen);
        return new SafeTensorsFile(path, arena, seg, Collections.unmodifiableMap(tensors),
                Collections.unmodifiableMap(metadata));
    }

    private static TensorInfo tensor(Path path, String name, JsonNode n, long dataStart, long dataLen) {
        String where = "tensor '" + oneLine(name) + "'";
        if (!n.isObject()) {
            throw InputException.at(path, where + " is not an object");
        }
        JsonNode dt = n.get("dtype");
        if (dt == null || !dt.isTextual()) {
            throw InputException.at(path, where + " has no dtype");
        }
        DType dtype = DType.parse(dt.asText());
        if (dtype == null) {
            throw InputException.at(path, where + " has unknown dtype '" + oneLine(dt.asText()) + "'");
        }
        JsonNode sh = n.get("shape");
        if (sh == null || !sh.isArray()) {
            throw InputException.at(path, where + " has no shape array");
        }
        long[] shape = new long[sh.size()];
        long elements = 1;
        long bytes;
        try {
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = sh.get(i);
                if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
                    throw InputException.at(path, where + " has an invalid shape " + sh);
                }
                shape[i] = d.asLong();
                elements = Math.multiplyExact(elements, shape[i]);
            }
            bytes = Math.multiplyExact(elements, dtype.bytes());
        } catch (ArithmeticException ex) {
            throw InputException.at(path, where + " has a shape too large " + sh);
        }
        JsonNode off = n.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2 || !isLong(off.get(0)) || !isLong(off.get(1))) {
            throw InputException.at(path, where + " has no [begin, end] data_offsets");
        }
        long begin = off.get(0).asLong();
        long end = off.get(1).asLong();
        if (begin < 0 || end < begin || end > dataLen) {
            throw InputException.at(path, where + " has data_offsets [" + begin + ", " + end
                    + "] outside the data area of " + dataLen + " bytes");
        }
        if (end - begin != bytes) {
            throw InputException.at(path, where + " is " + dtype + " " + sh + " = " + bytes
                    + " bytes but its data_offsets span " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, dataStart + begin, dataStart + end);
    }

    private static boolean isLong(JsonNode n) {
        return n.isIntegralNumber() && n.canConvertToLong();
    }

    /**
     * Sorted by begin, any overlap shows up between neighbours (the one after an overlapped
     * tensor starts inside it too). Empty tensors own no bytes, so they are left out: sitting
     * between two overlapping tensors they would otherwise hide the overlap.
     */
    private static void checkOverlaps(Path path, Map<String, TensorInfo> tensors) {
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo t : tensors.values()) {
            if (t.bytes() > 0) {
                sorted.add(t);
            }
        }
        sorted.sort(Comparator.comparingLong(TensorInfo::begin));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo a = sorted.get(i - 1);
            TensorInfo b = sorted.get(i);
            if (b.begin() < a.end()) {
                throw InputException.at(path, "tensors '" + oneLine(a.name()) + "' and '" + oneLine(b.name())
                        + "' overlap in the data area");
            }
        }
    }

    /**
     * The tensors must cover the data area exactly, as the format's reference implementation
     * requires: no gap before or between them and nothing after the last. A header length that
     * points short of the real header (into its trailing padding) leaves the data area longer
     * than the tensors and would otherwise read every tensor shifted; trailing bytes after the
     * last tensor are refused for the same reason. Empty tensors own no bytes and are not counted.
     */
    private static void checkCoverage(Path path, Map<String, TensorInfo> tensors, long dataStart, long dataLen) {
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo t : tensors.values()) {
            if (t.bytes() > 0) {
                sorted.add(t);
            }
        }
        sorted.sort(Comparator.comparingLong(TensorInfo::begin));
        long at = 0;
        for (TensorInfo t : sorted) {
            long begin = t.begin() - dataStart;
            if (begin != at) {
                throw InputException.at(path, "file not fully covered: " + (begin - at) + " bytes of the data area"
                        + " before tensor '" + oneLine(t.name()) + "' (offset " + at + ") belong to no tensor");
            }
            at = t.end() - dataStart;
        }
        if (at != dataLen) {
            throw InputException.at(path, "file not fully covered: the tensors end at byte " + at
                    + " of the data area but it has " + dataLen + " bytes (a header length short of the header, or"
                    + " trailing bytes)");
        }
    }

    /** Messages stay on one line even when a name in the file holds line breaks. */
    static String oneLine(String s) {
        return s == null ? "" : s.replace("\r", "\\r").replace("\n", "\\n");
    }

    public Path path() {
        return path;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensors in header order. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** Tensor names in header order. */
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw InputException.at(path, "has no tensor '" + oneLine(name) + "'");
        }
        return t;
    }

    /** The tensor's bytes, zero-copy (little-endian, valid until {@link #close}). */
    public MemorySegment data(String name) {
        TensorInfo t = info(name);
        return data.asSlice(t.begin(), t.bytes());
    }

    /** A tensor of any float dtype, converted to fp32; a NaN or infinity in it is an input error naming where. */
    public float[] floats(String name) {
        float[] out = storedFloats(name);
        String bad = Finite.describe(out, info(name).shape());
        if (bad != null) {
            throw InputException.at(path, "tensor '" + oneLine(name) + "' " + bad);
        }
        return out;
    }

    /** A tensor of any float dtype converted to fp32 as stored, non-finite values included (see {@link #floats}). */
    public float[] storedFloats(String name) {
        TensorInfo t = info(name);
        if (!t.dtype().isFloating()) {
            throw InputException.at(path, "tensor '" + oneLine(name) + "' is " + t.dtype() + ", not a float dtype");
        }
        MemorySegment s = data(name);
        float[] out = new float[arrayLength(t)];
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(s, F32, 0, out, 0, out.length);
            case F16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.float16ToFloat(s.getAtIndex(I16, i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = DType.bf16ToFloat(s.getAtIndex(I16, i));
                }
            }
            case F64 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = (float) s.getAtIndex(F64, i);
                }
            }
            default -> throw new AssertionError(t.dtype());
        }
        return out;
    }

    /** A tensor of any integer dtype or BOOL, widened to long (U8 as unsigned, BOOL as 0/1). */
    public long[] longs(String name) {
        TensorInfo t = info(name);
        if (t.dtype().isFloating()) {
            throw InputException.at(path, "tensor '" + oneLine(name) + "' is " + t.dtype() + ", not an integer dtype");
        }
        MemorySegment s = data(name);
        long[] out = new long[arrayLength(t)];
        switch (t.dtype()) {
            case I64 -> MemorySegment.copy(s, I64, 0, out, 0, out.length);
            case I32 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = s.getAtIndex(I32, i);
                }
            }
            case I16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = s.getAtIndex(I16, i);
                }
            }
            case I8 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = s.get(ValueLayout.JAVA_BYTE, i);
                }
            }
            case U8 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = Byte.toUnsignedLong(s.get(ValueLayout.JAVA_BYTE, i));
                }
            }
            case BOOL -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = s.get(ValueLayout.JAVA_BYTE, i) != 0 ? 1 : 0;
                }
            }
            default -> throw new AssertionError(t.dtype());
        }
        return out;
    }

    /** {@link #longs}, for tensors whose values fit an int (token ids, indices, shapes). */
    public int[] ints(String name) {
        long[] v = longs(name);
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            if (v[i] != (int) v[i]) {
                throw InputException.at(path, "tensor '" + oneLine(name) + "' element " + i + " = " + v[i]
                        + " does not fit a 32-bit int");
            }
            out[i] = (int) v[i];
        }
        return out;
    }

    private int arrayLength(TensorInfo t) {
        if (t.elements() > Integer.MAX_VALUE - 8) {
            throw InputException.at(path, "tensor '" + oneLine(t.name()) + "' has " + t.elements()
                    + " elements, too many for one Java array; read it through data()");
        }
        return (int) t.elements();
    }

    @Override
    public void close() {
        arena.close();
    }
}
