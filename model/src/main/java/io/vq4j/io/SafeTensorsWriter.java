package io.vq4j.io;

import io.vq4j.core.AtomicFiles;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes a safetensors file: tensors in the order added, contiguous; the JSON header padded
 * with spaces to a multiple of 8 bytes so the data area is aligned. The file appears under its
 * name only when complete (temp file in the same directory, fsync, atomic rename). Tensor bytes
 * are produced by callbacks when the file is written, so a large model need not sit in the heap.
 */
public final class SafeTensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHUNK = 1 << 16;

    /** Streams exactly the tensor's bytes (little-endian) into the channel. */
    @FunctionalInterface
    public interface ByteSource {
        void writeTo(FileChannel out) throws IOException;
    }

    private record Entry(String name, DType dtype, long[] shape, long bytes, ByteSource source) {
    }

    private final List<Entry> entries = new ArrayList<>();
    private final Set<String> names = new HashSet<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** A tensor whose bytes {@code source} writes when the file is written; it must write exactly numel × dtype size. */
    public SafeTensorsWriter add(String name, DType dtype, long[] shape, ByteSource source) {
        long bytes = byteCount(name, dtype, shape);
        if (name.equals("__metadata__") || !names.add(name)) {
            throw new IllegalArgumentException("tensor name '" + name + "' is reserved or added twice");
        }
        entries.add(new Entry(name, dtype, shape.clone(), bytes, source));
        return this;
    }

    /** A float tensor, converted to {@code dtype} (F64, F32, F16 or BF16; bf16 rounds to nearest even). */
    public SafeTensorsWriter addFloats(String name, DType dtype, long[] shape, float[] values) {
        if (!dtype.isFloating()) {
            throw new IllegalArgumentException("tensor '" + name + "': " + dtype + " is not a float dtype");
        }
        checkLength(name, dtype, shape, (long) values.length * dtype.bytes());
        return add(name, dtype, shape, out -> writeFloats(out, values, dtype));
    }

    /** Raw little-endian bytes of any dtype. */
    public SafeTensorsWriter addBytes(String name, DType dtype, long[] shape, byte[] bytes) {
        checkLength(name, dtype, shape, bytes.length);
        return add(name, dtype, shape, out -> writeFully(out, ByteBuffer.wrap(bytes)));
    }

    /** Raw little-endian bytes of any dtype from a segment (a mapped tensor of another file, say), copied in chunks. */
    public SafeTensorsWriter addSegment(String name, DType dtype, long[] shape, MemorySegment bytes) {
        checkLength(name, dtype, shape, bytes.byteSize());
        return add(name, dtype, shape, out -> {
            for (long pos = 0; pos < bytes.byteSize(); pos += CHUNK) {
                writeFully(out, bytes.asSlice(pos, Math.min(CHUNK, bytes.byteSize() - pos)).asByteBuffer());
            }
        });
    }

    private static long byteCount(String name, DType dtype, long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "' has a negative dimension " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return Math.multiplyExact(n, dtype.bytes());
    }

    private static void checkLength(String name, DType dtype, long[] shape, long given) {
        long expected = byteCount(name, dtype, shape);
        if (given != expected) {
            throw new IllegalArgumentException("tensor '" + name + "' is " + dtype + " " + Arrays.toString(shape)
                    + " = " + expected + " bytes, but " + given + " bytes were given");
        }
    }

    /** Converts {@code values} to {@code dtype} and writes them, a chunk at a time. */
    public static void writeFloats(FileChannel out, float[] values, DType dtype) throws IOException {
        writeFloats(out, values, 0, values.length, dtype);
    }

    public static void writeFloats(FileChannel out, float[] values, int from, int to, DType dtype) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = from; i < to; i++) {
            if (buf.remaining() < 8) {
                flush(out, buf);
            }
            float v = values[i];
            switch (dtype) {
                case F32 -> buf.putFloat(v);
                case F16 -> buf.putShort(Float.floatToFloat16(v));
                case BF16 -> buf.putShort(DType.floatToBf16(v));
                case F64 -> buf.putDouble(v);
                default -> throw new IllegalArgumentException("not a float dtype: " + dtype);
            }
        }
        flush(out, buf);
    }

    private static void flush(FileChannel out, ByteBuffer buf) throws IOException {
        buf.flip();
        writeFully(out, buf);
        buf.clear();
    }

    private static void writeFully(FileChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            out.write(b);
        }
    }

    /** The header bytes, padded with spaces to a multiple of 8. */
    byte[] header() {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = root.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode t = root.putObject(e.name);
            t.put("dtype", e.dtype.name());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.shape) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + e.bytes);
            offset += e.bytes;
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) & ~7;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    /** The size {@link #write} will give the file: 8 + the padded header + every tensor's bytes (for exact size budgets). */
    public long fileBytes() {
        long n = 8 + header().length;
        for (Entry e : entries) {
            n += e.bytes;
        }
        return n;
    }

    /** The tensors' bytes alone, without the header. */
    public long dataBytes() {
        long n = 0;
        for (Entry e : entries) {
            n += e.bytes;
        }
        return n;
    }

    public void write(Path target) throws IOException {
        Path tmp = AtomicFiles.tempFileBeside(target);
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] header = header();
            flush(out, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length));
            writeFully(out, ByteBuffer.wrap(header));
            for (Entry e : entries) {
                long before = out.position();
                e.source.writeTo(out);
                if (out.position() - before != e.bytes) {
                    throw new IllegalStateException("tensor '" + e.name + "' wrote " + (out.position() - before)
                            + " bytes, expected " + e.bytes);
                }
            }
            out.force(true);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        AtomicFiles.commit(tmp, target);
    }

    /** {@link #write} for callers that cannot recover from an I/O error anyway. */
    public void writeUnchecked(Path target) {
        try {
            write(target);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
