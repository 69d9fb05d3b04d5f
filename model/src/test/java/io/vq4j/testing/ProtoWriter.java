package io.vq4j.testing;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A tiny protobuf wire-format writer for building ONNX test files by hand: each method
 * appends one field (key + value) and returns this. Written from the encoding rules
 * (key = field << 3 | wire type; varints little-endian base 128), independent of the reader.
 */
public final class ProtoWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public ProtoWriter varint(int field, long value) {
        key(field, 0);
        rawVarint(value);
        return this;
    }

    public ProtoWriter fixed32(int field, int bits) {
        key(field, 5);
        le(bits, 4);
        return this;
    }

    public ProtoWriter float32(int field, float value) {
        return fixed32(field, Float.floatToRawIntBits(value));
    }

    public ProtoWriter bytes(int field, byte[] value) {
        key(field, 2);
        rawVarint(value.length);
        out.writeBytes(value);
        return this;
    }

    public ProtoWriter string(int field, String value) {
        return bytes(field, value.getBytes(StandardCharsets.UTF_8));
    }

    public ProtoWriter message(int field, ProtoWriter value) {
        return bytes(field, value.toByteArray());
    }

    /** Repeated floats as one packed field. */
    public ProtoWriter packedFloats(int field, float... values) {
        ProtoWriter p = new ProtoWriter();
        for (float v : values) {
            p.le(Float.floatToRawIntBits(v), 4);
        }
        return bytes(field, p.toByteArray());
    }

    /** Repeated varints as one packed field. */
    public ProtoWriter packedVarints(int field, long... values) {
        ProtoWriter p = new ProtoWriter();
        for (long v : values) {
            p.rawVarint(v);
        }
        return bytes(field, p.toByteArray());
    }

    /** Appends bytes as they are (for malformed input). */
    public ProtoWriter raw(byte... b) {
        out.writeBytes(b);
        return this;
    }

    public byte[] toByteArray() {
        return out.toByteArray();
    }

    public static byte[] littleEndianFloats(float... values) {
        ProtoWriter p = new ProtoWriter();
        for (float v : values) {
            p.le(Float.floatToRawIntBits(v), 4);
        }
        return p.toByteArray();
    }

    public static byte[] littleEndianLongs(long... values) {
        ProtoWriter p = new ProtoWriter();
        for (long v : values) {
            p.le(v, 8);
        }
        return p.toByteArray();
    }

    private void key(int field, int wire) {
        rawVarint((long) field << 3 | wire);
    }

    private void rawVarint(long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) (v & 0x7F) | 0x80);
            v >>>= 7;
        }
        out.write((int) v);
    }

    private void le(long v, int n) {
        for (int i = 0; i < n; i++) {
            out.write((int) (v >>> (8 * i)) & 0xFF);
        }
    }
}
