package io.vq4j.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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

/**
 * Writes a safetensors file: tensors in the order added, contiguous; the JSON header padded
 * with spaces to a multiple of 8 bytes so the data area is aligned. The file appears under its
 * name only when complete (temp file in the same directory, fsync, atomic rename). Tensor bytes
 * are produced by callbacks, so a large model need not sit in the heap.
 */
public final class SafeTensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Streams exactly the tensor's bytes (little-endian) into the channel. */
    @FunctionalInterface
    public interface ByteSource {
        void writeTo(FileChannel out) throws IOException;
    }

    private record Entry(String name, DType dtype, long[] shape, long bytes, ByteSource source) {
    }

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public SafeTensorsWriter add(String name, DType dtype, long[] shape, ByteSource source) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        for (Entry e : entries) {
            if (e.name.equals(name)) {
                throw new IllegalArgumentException("tensor '" + name + "' added twice");
            }
        }
        entries.add(new Entry(name, dtype, shape.clone(), n * dtype.bytes(), source));
        return this;
    }

    /** A float tensor, stored as {@code dtype} (F32, F16 or BF16). */
    public SafeTensorsWriter addFloats(String name, DType dtype, long[] shape, float[] values) {
        return add(name, dtype, shape, out -> writeFloats(out, values, dtype));
    }

    public SafeTensorsWriter addBytes(String name, DType dtype, long[] shape, byte[] bytes) {
        return add(name, dtype, shape, out -> {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                out.write(b);
            }
        });
    }

    static void writeFloats(FileChannel out, float[] values, DType dtype) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            if (buf.remaining() < 4) {
                flush(out, buf);
            }
            switch (dtype) {
                case F32 -> buf.putFloat(v);
                case F16 -> buf.putShort(Float.floatToFloat16(v));
                case BF16 -> buf.putShort(DType.floatToBf16(v));
                default -> throw new IllegalArgumentException("not a float storage dtype: " + dtype);
            }
        }
        flush(out, buf);
    }

    private static void flush(FileChannel out, ByteBuffer buf) throws IOException {
        buf.flip();
        while (buf.hasRemaining()) {
            out.write(buf);
        }
        buf.clear();
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
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        java.util.Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    public void write(Path target) throws IOException {
        Path tmp = AtomicFiles.tempFileBeside(target);
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] header = header();
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
            flush(out, len);
            out.write(ByteBuffer.wrap(header));
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
