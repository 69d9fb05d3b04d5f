package io.vq4j.io;

import io.vq4j.core.InputException;
import java.nio.charset.StandardCharsets;

/**
 * A cursor over one protobuf message in a byte array: field keys, varints, fixed32/64 and
 * length-delimited spans (the wire format of protobuf's encoding guide). Every read is
 * bounds-checked against the message's own end, so truncated or garbage input fails with
 * the byte offset where it went wrong instead of an index error.
 */
final class ProtoWire {
    static final int VARINT = 0;
    static final int FIXED64 = 1;
    static final int LEN = 2;
    static final int FIXED32 = 5;

    private final Object source;
    private final byte[] buf;
    private final int end;
    private int pos;
    private int wire = -1;
    private int field;
    private int keyAt;

    ProtoWire(Object source, byte[] buf, int start, int end) {
        assert 0 <= start && start <= end && end <= buf.length;
        this.source = source;
        this.buf = buf;
        this.pos = start;
        this.end = end;
    }

    /** A sub-range [start, end) of the buffer: a nested message, a string, packed values. */
    record Span(int start, int end) {
        int length() {
            return end - start;
        }
    }

    boolean more() {
        return pos < end;
    }

    /** Reads the next field key and returns its field number; {@link #wire()} gives its wire type. */
    int next() {
        keyAt = pos;
        long key = varint();
        long number = key >>> 3;
        wire = (int) (key & 7);
        if (number == 0 || number > 0x1FFF_FFFF) {
            throw corrupt(keyAt, "field number " + number + " is not valid");
        }
        field = (int) number;
        if (wire != VARINT && wire != FIXED64 && wire != LEN && wire != FIXED32) {
            throw corrupt(keyAt, "field " + field + " has wire type " + wire
                    + (wire == 3 || wire == 4 ? " (groups are not used by ONNX)" : " (no such wire type)"));
        }
        return field;
    }

    int wire() {
        return wire;
    }

    /** Fails unless the current field has {@code expected} wire type. */
    void expect(int expected, String what) {
        if (wire != expected) {
            throw corrupt(keyAt, what + " has wire type " + wire + ", expected " + expected);
        }
    }

    long varint() {
        int at = pos;
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= end) {
                throw corrupt(at, "varint runs past the end of its message (byte " + end + ")");
            }
            byte b = buf[pos++];
            v |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return v;
            }
        }
        throw corrupt(at, "varint longer than 10 bytes");
    }

    /** A varint that must fit an int (lengths, enums, int32 fields). */
    int varint32(String what) {
        int at = pos;
        long v = varint();
        if (v != (int) v) {
            throw corrupt(at, what + " " + v + " does not fit in 32 bits");
        }
        return (int) v;
    }

    int fixed32() {
        need(4, "fixed32 value");
        int v = (buf[pos] & 0xFF) | (buf[pos + 1] & 0xFF) << 8 | (buf[pos + 2] & 0xFF) << 16 | (buf[pos + 3] & 0xFF) << 24;
        pos += 4;
        return v;
    }

    long fixed64() {
        need(8, "fixed64 value");
        long lo = fixed32() & 0xFFFF_FFFFL;
        long hi = fixed32() & 0xFFFF_FFFFL;
        return lo | hi << 32;
    }

    /** The current length-delimited field's bytes; the cursor moves past them. */
    Span span() {
        int at = pos;
        long len = varint();
        if (len < 0 || len > end - pos) {
            throw corrupt(at, "field " + field + " (" + Long.toUnsignedString(len)
                    + " bytes) runs past the end of its message (byte " + end + ")");
        }
        Span s = new Span(pos, pos + (int) len);
        pos += (int) len;
        return s;
    }

    String string() {
        Span s = span();
        return new String(buf, s.start(), s.length(), StandardCharsets.UTF_8);
    }

    /** Skips the current field's value, whatever its wire type. */
    void skip() {
        switch (wire) {
            case VARINT -> varint();
            case FIXED64 -> {
                need(8, "fixed64 value");
                pos += 8;
            }
            case FIXED32 -> {
                need(4, "fixed32 value");
                pos += 4;
            }
            case LEN -> span();
            default -> throw new IllegalStateException("no field read");
        }
    }

    /** A cursor over a nested message. */
    ProtoWire sub(Span s) {
        return new ProtoWire(source, buf, s.start(), s.end());
    }

    private void need(int n, String what) {
        if (end - pos < n) {
            throw corrupt(pos, what + " runs past the end of its message (byte " + end + ")");
        }
    }

    InputException corrupt(int at, String what) {
        return InputException.at(source, "not a valid ONNX protobuf (truncated or corrupt) at byte " + at + ": " + what);
    }
}
