package io.vq4j.export.gguf;

import io.vq4j.core.AtomicFiles;
import io.vq4j.core.Parallel;
import io.vq4j.io.gguf.GgmlType;
import io.vq4j.io.gguf.GgufFile;
import io.vq4j.io.gguf.GgufValueType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Writes a GGUF v3 file: header, metadata pairs in the order they were put, the tensor table
 * with consecutive offsets aligned to {@code general.alignment}, then each tensor's data padded
 * to the alignment, as llama.cpp's gguf.cpp lays it out. Tensor values are produced only when
 * their turn comes and encoded a chunk of rows at a time, so memory grows with one tensor, not
 * with the file. The file appears only when complete ({@link AtomicFiles}).
 */
public final class GgufWriter {
    private static final int CHUNK_BYTES = 1 << 22;

    /**
     * A tensor to write: {@code dims} in ggml order (values per row first), stored as
     * {@code type}; {@code values} gives all its values, row-major, when it is written, or
     * {@code data} (when not null) its bytes already encoded as {@code type}, e.g. by a quantizer
     * that chose the codes itself.
     */
    public record Tensor(String name, long[] dims, GgmlType type, Supplier<float[]> values, Supplier<byte[]> data) {
        public Tensor(String name, long[] dims, GgmlType type, Supplier<float[]> values) {
            this(name, dims, type, values, null);
        }

        public long elements() {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            return n;
        }

        public long bytes() {
            return type.bytes(elements());
        }
    }

    private record Entry(GgufValueType type, GgufValueType elementType, Object value) {
    }

    private final Map<String, Entry> metadata = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();
    private long alignment = GgufFile.DEFAULT_ALIGNMENT;

    public GgufWriter string(String key, String value) {
        return put(key, GgufValueType.STRING, null, value);
    }

    public GgufWriter u32(String key, long value) {
        if (value < 0 || value > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException(key + " = " + value + " does not fit a uint32");
        }
        if (key.equals("general.alignment")) {
            alignment = value;
        }
        return put(key, GgufValueType.UINT32, null, value);
    }

    public GgufWriter f32(String key, float value) {
        return put(key, GgufValueType.FLOAT32, null, value);
    }

    public GgufWriter bool(String key, boolean value) {
        return put(key, GgufValueType.BOOL, null, value);
    }

    public GgufWriter strings(String key, String[] values) {
        return put(key, GgufValueType.ARRAY, GgufValueType.STRING, values.clone());
    }

    public GgufWriter f32s(String key, float[] values) {
        return put(key, GgufValueType.ARRAY, GgufValueType.FLOAT32, values.clone());
    }

    public GgufWriter i32s(String key, int[] values) {
        return put(key, GgufValueType.ARRAY, GgufValueType.INT32, values.clone());
    }

    private GgufWriter put(String key, GgufValueType type, GgufValueType element, Object value) {
        if (metadata.putIfAbsent(key, new Entry(type, element, value)) != null) {
            throw new IllegalArgumentException("metadata key " + key + " put twice");
        }
        return this;
    }

    public GgufWriter tensor(Tensor t) {
        if (t.name().getBytes(StandardCharsets.UTF_8).length > GgufFile.MAX_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name too long: " + t.name());
        }
        if (tensors.stream().anyMatch(o -> o.name().equals(t.name()))) {
            throw new IllegalArgumentException("tensor " + t.name() + " added twice");
        }
        if (t.dims().length == 0 || t.dims().length > GgufFile.MAX_DIMS || t.dims()[0] % t.type().blockSize() != 0) {
            throw new IllegalArgumentException("tensor " + t.name() + " cannot be stored as " + t.type());
        }
        tensors.add(t);
        return this;
    }

    public List<Tensor> tensors() {
        return List.copyOf(tensors);
    }

    /** Writes the file (replacing {@code target} only once it is complete); returns its size. */
    public long write(Path target) {
        try {
            AtomicFiles.removeTemporaries(target); // what a killed export into it left
            Path tmp = AtomicFiles.tempFileBeside(target);
            try {
                long size;
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING)) {
                    writeTo(ch);
                    ch.force(true);
                    size = ch.size();
                }
                AtomicFiles.commit(tmp, target);
                return size;
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void writeTo(FileChannel ch) throws IOException {
        Header h = new Header();
        h.buf.putInt(GgufFile.MAGIC).putInt(GgufFile.VERSION).putLong(tensors.size()).putLong(metadata.size());
        for (Map.Entry<String, Entry> e : metadata.entrySet()) {
            h.string(e.getKey());
            h.u32(e.getValue().type().id());
            if (e.getValue().type() == GgufValueType.ARRAY) {
                h.array(e.getValue().elementType(), e.getValue().value());
            } else {
                h.scalar(e.getValue().type(), e.getValue().value());
            }
        }
        long offset = 0;
        for (Tensor t : tensors) {
            h.string(t.name());
            h.u32(t.dims().length);
            for (long d : t.dims()) {
                h.ensure(8).putLong(d);
            }
            h.u32(t.type().id());
            h.ensure(8).putLong(offset);
            offset += pad(t.bytes());
        }
        ByteBuffer header = h.buf.flip();
        writeFully(ch, header);
        writeFully(ch, ByteBuffer.allocate((int) (pad(header.limit()) - header.limit())));
        for (Tensor t : tensors) {
            writeData(ch, t);
            writeFully(ch, ByteBuffer.allocate((int) (pad(t.bytes()) - t.bytes())));
        }
    }

    /** Encodes a tensor's rows in chunks (rows encoded in parallel, each into its own slice). */
    private void writeData(FileChannel ch, Tensor t) throws IOException {
        if (t.data() != null) {
            byte[] d = t.data().get();
            if (d.length != t.bytes()) {
                throw new IllegalStateException("tensor " + t.name() + " gave " + d.length + " bytes for "
                        + t.bytes());
            }
            writeFully(ch, ByteBuffer.wrap(d));
            return;
        }
        float[] v = t.values().get();
        if (v.length != t.elements()) {
            throw new IllegalStateException("tensor " + t.name() + " gave " + v.length + " values for "
                    + t.elements());
        }
        int cols = (int) t.dims()[0];
        int rowBytes = (int) t.type().bytes(cols);
        int rows = (int) (t.elements() / cols);
        int chunkRows = Math.max(1, CHUNK_BYTES / Math.max(1, rowBytes));
        ByteBuffer buf = ByteBuffer.allocate(Math.multiplyExact(Math.min(rows, chunkRows), rowBytes))
                .order(ByteOrder.LITTLE_ENDIAN);
        long start = ch.position();
        for (int r0 = 0; r0 < rows; r0 += chunkRows) {
            int n = Math.min(chunkRows, rows - r0);
            int first = r0;
            Parallel.forChunks(0, n, 16, (lo, hi) -> {
                for (int r = lo; r < hi; r++) {
                    ByteBuffer row = buf.slice(r * rowBytes, rowBytes).order(ByteOrder.LITTLE_ENDIAN);
                    t.type().encode(v, (first + r) * cols, cols, row);
                }
            });
            writeFully(ch, buf.clear().limit(n * rowBytes));
        }
        if (ch.position() - start != t.bytes()) {
            throw new IllegalStateException("tensor " + t.name() + " wrote " + (ch.position() - start) + " bytes");
        }
    }

    private long pad(long n) {
        return (n + alignment - 1) / alignment * alignment;
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    /** The header, built in a growing little-endian buffer. */
    private static final class Header {
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        ByteBuffer ensure(int n) {
            if (buf.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n))
                        .order(ByteOrder.LITTLE_ENDIAN);
                bigger.put(buf.flip());
                buf = bigger;
            }
            return buf;
        }

        void u32(long v) {
            ensure(4).putInt((int) v);
        }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            ensure(8 + b.length).putLong(b.length).put(b);
        }

        void scalar(GgufValueType type, Object v) {
            switch (type) {
                case STRING -> string((String) v);
                case UINT32 -> u32((Long) v);
                case INT32 -> ensure(4).putInt((Integer) v);
                case FLOAT32 -> ensure(4).putFloat((Float) v);
                case BOOL -> ensure(1).put((byte) ((Boolean) v ? 1 : 0));
                default -> throw new AssertionError(type);
            }
        }

        void array(GgufValueType element, Object values) {
            u32(element.id());
            switch (values) {
                case String[] a -> {
                    ensure(8).putLong(a.length);
                    for (String s : a) {
                        string(s);
                    }
                }
                case float[] a -> {
                    ensure(8).putLong(a.length);
                    for (float f : a) {
                        ensure(4).putFloat(f);
                    }
                }
                case int[] a -> {
                    ensure(8).putLong(a.length);
                    for (int i : a) {
                        ensure(4).putInt(i);
                    }
                }
                default -> throw new AssertionError(values);
            }
        }
    }
}
