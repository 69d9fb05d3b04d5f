package io.vq4j.io.gguf;

import io.vq4j.core.InputException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A GGUF file (version 2 or 3, little-endian), memory-mapped: the metadata key/value pairs,
 * the tensor table and each tensor's data. Every count, length, shape and offset is checked
 * against the file before it is used, with the rules llama.cpp's gguf.cpp applies (tensor
 * names under 64 bytes and unique, at most 4 dimensions, rows a whole number of blocks, data
 * offsets consecutive and aligned), so a damaged or hostile file is one
 * {@link InputException} line, never a stack trace or a huge allocation.
 */
public final class GgufFile implements AutoCloseable {
    /** "GGUF" as a little-endian uint32. */
    public static final int MAGIC = 0x46554747;
    public static final int VERSION = 3;
    public static final int DEFAULT_ALIGNMENT = 32;
    /** ggml's GGML_MAX_NAME: names are shorter, with room for the C string's NUL. */
    public static final int MAX_NAME_BYTES = 63;
    public static final int MAX_DIMS = 4;

    /**
     * One tensor. {@code dims} are in ggml order: {@code dims[0]} values per row (the
     * contiguous axis), {@code dims[1]} rows, and so on; {@code offset} is absolute in the file.
     */
    public record Tensor(String name, long[] dims, GgmlType type, long offset, long bytes) {
        public long elements() {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            return n;
        }

        /** The shape in row-major order, outermost first (as safetensors writes it). */
        public long[] rowMajorShape() {
            long[] s = new long[dims.length];
            for (int i = 0; i < dims.length; i++) {
                s[i] = dims[dims.length - 1 - i];
            }
            return s;
        }
    }

    /**
     * A metadata value: a Long, Float, Double, Boolean or String, or an array (long[], float[],
     * double[], boolean[], String[]).
     */
    public record Value(GgufValueType type, GgufValueType elementType, Object value) {
    }

    /** A tensor table entry as read, before its offset is checked. */
    private record Info(String name, long[] dims, GgmlType type, long offset) {
    }

    private final Path path;
    private final Arena arena;
    private final MemorySegment seg;
    private final int version;
    private final Map<String, Value> metadata;
    private final Map<String, Tensor> tensors;
    private final long alignment;
    private final long dataOffset;

    private GgufFile(Path path, Arena arena, MemorySegment seg) {
        this.path = path;
        this.arena = arena;
        this.seg = seg;
        Reader r = new Reader(path, seg);
        if (seg.byteSize() < 24) {
            throw InputException.at(path, "too short for a GGUF header (" + seg.byteSize() + " bytes)");
        }
        int magic = r.i32();
        if (magic != MAGIC) {
            throw InputException.at(path, "not a GGUF file (magic " + String.format(Locale.ROOT, "0x%08x", magic)
                    + ", expected \"GGUF\")");
        }
        this.version = r.i32();
        if (version != 2 && version != 3) {
            throw InputException.at(path, "GGUF version " + Integer.toUnsignedString(version)
                    + " is not supported (2 and 3 are)");
        }
        long nTensors = r.u64("the tensor count");
        long nKv = r.u64("the metadata count");
        // each tensor info takes at least 8 + 4 + 4 + 8 bytes and each pair 8 + 4 + 1
        r.checkCount(nKv, 13, "metadata pairs");
        Map<String, Value> kv = new LinkedHashMap<>();
        for (long i = 0; i < nKv; i++) {
            String key = r.string("metadata key " + i);
            if (kv.containsKey(key)) {
                throw InputException.at(path, "metadata key '" + key + "' appears twice");
            }
            kv.put(key, r.value(key));
        }
        this.metadata = Collections.unmodifiableMap(kv);
        this.alignment = readAlignment();
        r.checkCount(nTensors, 24, "tensors");
        List<Info> infos = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (long i = 0; i < nTensors; i++) {
            Info info = r.tensorInfo(i);
            if (!names.add(info.name())) {
                throw InputException.at(path, "tensor '" + info.name() + "' appears twice");
            }
            infos.add(info);
        }
        this.dataOffset = nTensors > 0 ? pad(r.pos, alignment) : r.pos;
        Map<String, Tensor> ts = new LinkedHashMap<>();
        long expected = 0;
        for (Info t : infos) {
            long bytes = t.type().bytes(elements(t.dims()));
            if (t.offset() != expected) {
                throw InputException.at(path, "tensor '" + t.name() + "' has data offset " + t.offset()
                        + ", expected " + expected + " (tensors are stored one after another, each aligned to "
                        + alignment + " bytes)");
            }
            if (bytes > seg.byteSize() - dataOffset - expected) {
                throw InputException.at(path, "truncated: tensor '" + t.name() + "' needs bytes "
                        + (dataOffset + expected) + ".." + (dataOffset + expected + bytes) + " but the file has "
                        + seg.byteSize());
            }
            ts.put(t.name(), new Tensor(t.name(), t.dims(), t.type(), dataOffset + expected, bytes));
            expected += pad(bytes, alignment);
        }
        this.tensors = Collections.unmodifiableMap(ts);
    }

    /** Opens and checks {@code file}; close it to unmap. */
    public static GgufFile open(Path file) {
        if (!Files.isRegularFile(file)) {
            throw InputException.at(file, "no such file");
        }
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment seg = ch.size() == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0,
                    ch.size(), arena);
            return new GgufFile(file, arena, seg);
        } catch (IOException e) {
            arena.close();
            throw InputException.at(file, "cannot read: " + e.getMessage());
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Whether {@code p} is named like a GGUF file (".gguf", any case): how loaders tell the format. */
    public static boolean isGguf(Path p) {
        Path name = p.getFileName();
        return name != null && name.toString().toLowerCase(Locale.ROOT).endsWith(".gguf");
    }

    public Path path() {
        return path;
    }

    public int version() {
        return version;
    }

    public long alignment() {
        return alignment;
    }

    /** The metadata in file order. */
    public Map<String, Value> metadata() {
        return metadata;
    }

    /** The tensors in file order. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    public Tensor tensor(String name) {
        return tensors.get(name);
    }

    /** The data of {@code t}, a slice of the mapping (valid until close). */
    public MemorySegment data(Tensor t) {
        return seg.asSlice(t.offset(), t.bytes());
    }

    /** All values of {@code t}, decoded to fp32, in storage order (row-major, rows of dims[0]). */
    public float[] floats(Tensor t) {
        long n = t.elements();
        if (n > Integer.MAX_VALUE - 8) {
            throw InputException.at(path, "tensor '" + t.name() + "' has " + n + " values, too many for one array");
        }
        float[] out = new float[(int) n];
        t.type().decode(seg, t.offset(), out, 0, (int) n);
        return out;
    }

    /** A string value; missing or of another type: an input error naming the key. */
    public String string(String key) {
        return (String) require(key, GgufValueType.STRING).value();
    }

    /** An integer value of any integer type (uint64 values above 2^63 are refused). */
    public long integer(String key) {
        Value v = get(key);
        if (!v.type().isInteger() || !(v.value() instanceof Long l) || l < 0 && v.type() == GgufValueType.UINT64) {
            throw wrongType(key, v, "an integer");
        }
        return l;
    }

    /** A FLOAT32 or FLOAT64 value. */
    public double real(String key) {
        Value v = get(key);
        return switch (v.value()) {
            case Float f -> f;
            case Double d -> d;
            default -> throw wrongType(key, v, "a float");
        };
    }

    public boolean bool(String key) {
        return (Boolean) require(key, GgufValueType.BOOL).value();
    }

    /** An array of strings. */
    public String[] strings(String key) {
        return (String[]) requireArray(key, GgufValueType.STRING).value();
    }

    /** An array of FLOAT32. */
    public float[] floats32(String key) {
        return (float[]) requireArray(key, GgufValueType.FLOAT32).value();
    }

    /** An array of any integer type. */
    public long[] integers(String key) {
        Value v = get(key);
        if (v.type() != GgufValueType.ARRAY || !v.elementType().isInteger()) {
            throw wrongType(key, v, "an array of integers");
        }
        return (long[]) v.value();
    }

    private Value get(String key) {
        Value v = metadata.get(key);
        if (v == null) {
            throw InputException.at(path, "metadata key '" + key + "' is missing");
        }
        return v;
    }

    private Value require(String key, GgufValueType type) {
        Value v = get(key);
        if (v.type() != type) {
            throw wrongType(key, v, type.name());
        }
        return v;
    }

    private Value requireArray(String key, GgufValueType element) {
        Value v = get(key);
        if (v.type() != GgufValueType.ARRAY || v.elementType() != element) {
            throw wrongType(key, v, "an array of " + element);
        }
        return v;
    }

    private InputException wrongType(String key, Value v, String wanted) {
        String got = v.type() == GgufValueType.ARRAY ? "an array of " + v.elementType() : v.type().name();
        return InputException.at(path, "metadata key '" + key + "' is " + got + ", not " + wanted);
    }

    private long readAlignment() {
        Value v = metadata.get("general.alignment");
        if (v == null) {
            return DEFAULT_ALIGNMENT;
        }
        if (v.type() != GgufValueType.UINT32) {
            throw wrongType("general.alignment", v, "UINT32");
        }
        long a = (Long) v.value();
        if (a == 0 || (a & (a - 1)) != 0) {
            throw InputException.at(path, "general.alignment " + a + " is not a power of 2");
        }
        return a;
    }

    private static long elements(long[] dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }

    static long pad(long n, long alignment) {
        return (n + alignment - 1) / alignment * alignment;
    }

    @Override
    public void close() {
        arena.close();
    }

    /** Sequential, bounds-checked reads from the start of the file. */
    private static final class Reader {
        private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
        private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);
        private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(LE);
        private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
        private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
        private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(LE);

        private final Path path;
        private final MemorySegment seg;
        private long pos;

        Reader(Path path, MemorySegment seg) {
            this.path = path;
            this.seg = seg;
        }

        private long remaining() {
            return seg.byteSize() - pos;
        }

        private void need(long n, String what) {
            if (n > remaining()) {
                throw InputException.at(path, "truncated at byte " + pos + ": " + what + " needs " + n + " bytes, "
                        + remaining() + " left");
            }
        }

        /** A count of items of at least {@code minBytes} each must fit in the rest of the file. */
        void checkCount(long n, long minBytes, String what) {
            if (n < 0 || n > remaining() / minBytes) {
                throw InputException.at(path, "claims " + Long.toUnsignedString(n) + " " + what + ", more than the "
                        + remaining() + " bytes left can hold");
            }
        }

        int i32() {
            need(4, "a 32-bit field");
            int v = seg.get(I32, pos);
            pos += 4;
            return v;
        }

        long u32(String what) {
            need(4, what);
            long v = Integer.toUnsignedLong(seg.get(I32, pos));
            pos += 4;
            return v;
        }

        long u64(String what) {
            need(8, what);
            long v = seg.get(I64, pos);
            pos += 8;
            if (v < 0) {
                throw InputException.at(path, what + " is " + Long.toUnsignedString(v) + ", beyond any file");
            }
            return v;
        }

        String string(String what) {
            long len = u64("the length of " + what);
            need(len, what);
            if (len > Integer.MAX_VALUE - 8) {
                throw InputException.at(path, what + " is " + len + " bytes long");
            }
            byte[] b = seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
            pos += len;
            return new String(b, StandardCharsets.UTF_8);
        }

        Info tensorInfo(long i) {
            String name = string("tensor name " + i);
            if (name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
                throw InputException.at(path, "tensor name " + i + " is longer than " + MAX_NAME_BYTES + " bytes");
            }
            long nDims = u32("the dimension count of tensor '" + name + "'");
            if (nDims > MAX_DIMS) {
                throw InputException.at(path, "tensor '" + name + "' has " + nDims + " dimensions (at most "
                        + MAX_DIMS + ")");
            }
            long[] dims = new long[(int) nDims];
            long elements = 1;
            for (int j = 0; j < nDims; j++) {
                dims[j] = u64("dimension " + j + " of tensor '" + name + "'");
                if (dims[j] != 0 && elements > Long.MAX_VALUE / dims[j]) {
                    throw InputException.at(path, "tensor '" + name + "' has more than 2^63 values");
                }
                elements *= dims[j];
            }
            long typeId = u32("the type of tensor '" + name + "'");
            GgmlType type = GgmlType.byId(typeId);
            if (type == null) {
                throw InputException.at(path, "tensor '" + name + "' has ggml type " + GgmlType.nameOf(typeId)
                        + ", which vq4j does not read (it reads f32, f16, q4_0, q4_1, q8_0)");
            }
            if (nDims > 0 && dims[0] % type.blockSize() != 0) {
                throw InputException.at(path, "tensor '" + name + "' of type " + type.ggmlName() + " has rows of "
                        + dims[0] + " values, not a multiple of the block size " + type.blockSize());
            }
            long offset = u64("the data offset of tensor '" + name + "'");
            return new Info(name, dims, type, offset);
        }

        Value value(String key) {
            GgufValueType type = type("the value type of '" + key + "'");
            if (type != GgufValueType.ARRAY) {
                return new Value(type, null, scalar(type, key));
            }
            GgufValueType element = type("the element type of '" + key + "'");
            if (element == GgufValueType.ARRAY) {
                throw InputException.at(path, "metadata key '" + key + "' is an array of arrays, which vq4j does not"
                        + " read");
            }
            long n = u64("the length of array '" + key + "'");
            checkCount(n, element.minBytes(), "elements in array '" + key + "'");
            if (n > Integer.MAX_VALUE - 8) {
                throw InputException.at(path, "array '" + key + "' has " + n + " elements");
            }
            int count = (int) n;
            Object array = switch (element) {
                case STRING -> {
                    String[] a = new String[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = string("element " + i + " of '" + key + "'");
                    }
                    yield a;
                }
                case FLOAT32 -> {
                    float[] a = new float[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = (Float) scalar(element, key);
                    }
                    yield a;
                }
                case FLOAT64 -> {
                    double[] a = new double[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = (Double) scalar(element, key);
                    }
                    yield a;
                }
                case BOOL -> {
                    boolean[] a = new boolean[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = (Boolean) scalar(element, key);
                    }
                    yield a;
                }
                default -> {
                    long[] a = new long[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = (Long) scalar(element, key);
                    }
                    yield a;
                }
            };
            return new Value(type, element, array);
        }

        private GgufValueType type(String what) {
            long id = u32(what);
            GgufValueType t = GgufValueType.byId(id);
            if (t == null) {
                throw InputException.at(path, what + " is " + id + ", not a GGUF value type (0..12)");
            }
            return t;
        }

        private Object scalar(GgufValueType type, String key) {
            String what = "the value of '" + key + "'";
            if (type == GgufValueType.STRING) {
                return string(what);
            }
            need(type.minBytes(), what);
            long at = pos;
            pos += type.minBytes();
            return switch (type) {
                case UINT8 -> (long) (seg.get(ValueLayout.JAVA_BYTE, at) & 0xFF);
                case INT8 -> (long) seg.get(ValueLayout.JAVA_BYTE, at);
                case UINT16 -> (long) (seg.get(I16, at) & 0xFFFF);
                case INT16 -> (long) seg.get(I16, at);
                case UINT32 -> Integer.toUnsignedLong(seg.get(I32, at));
                case INT32 -> (long) seg.get(I32, at);
                case UINT64, INT64 -> seg.get(I64, at);
                case FLOAT32 -> seg.get(F32, at);
                case FLOAT64 -> seg.get(F64, at);
                case BOOL -> {
                    byte b = seg.get(ValueLayout.JAVA_BYTE, at);
                    if (b != 0 && b != 1) {
                        throw InputException.at(path, what + " is a BOOL of " + b + ", not 0 or 1");
                    }
                    yield b == 1;
                }
                default -> throw new AssertionError(type);
            };
        }
    }
}
