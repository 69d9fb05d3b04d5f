package io.vq4j.testing;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Builds GGUF files byte by byte for reader tests, including wrong ones: every field is
 * written as given, nothing is checked or computed (offsets, counts and padding included).
 */
public final class GgufBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public GgufBytes u8(int v) {
        out.write(v);
        return this;
    }

    public GgufBytes u32(long v) {
        return put(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v));
    }

    public GgufBytes u64(long v) {
        return put(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v));
    }

    public GgufBytes f32(float v) {
        return put(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(v));
    }

    public GgufBytes f16(short bits) {
        return put(ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort(bits));
    }

    public GgufBytes string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u64(b.length);
        out.writeBytes(b);
        return this;
    }

    /** The header: magic, version, tensor count, metadata count. */
    public GgufBytes header(int version, long tensors, long kvs) {
        out.writeBytes("GGUF".getBytes(StandardCharsets.US_ASCII));
        return u32(version).u64(tensors).u64(kvs);
    }

    /** A metadata pair with a uint32 value (type 4). */
    public GgufBytes kvU32(String key, long v) {
        return string(key).u32(4).u32(v);
    }

    /** A metadata pair with a string value (type 8). */
    public GgufBytes kvString(String key, String v) {
        return string(key).u32(8).string(v);
    }

    /** A metadata pair with a float32 value (type 6). */
    public GgufBytes kvF32(String key, float v) {
        return string(key).u32(6).f32(v);
    }

    /** A tensor table entry; {@code dims} in ggml order. */
    public GgufBytes tensor(String name, int type, long offset, long... dims) {
        string(name).u32(dims.length);
        for (long d : dims) {
            u64(d);
        }
        return u32(type).u64(offset);
    }

    /** Zero bytes up to the next multiple of {@code alignment}. */
    public GgufBytes pad(int alignment) {
        while (out.size() % alignment != 0) {
            out.write(0);
        }
        return this;
    }

    public GgufBytes bytes(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    public int size() {
        return out.size();
    }

    public byte[] toByteArray() {
        return out.toByteArray();
    }

    private GgufBytes put(ByteBuffer b) {
        out.writeBytes(b.array());
        return this;
    }
}
