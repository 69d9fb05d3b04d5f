package io.vq4j.io.gguf;

/** The metadata value types of GGUF (gguf.h {@code enum gguf_type}), with their ids and sizes. */
public enum GgufValueType {
    UINT8(0, 1), INT8(1, 1), UINT16(2, 2), INT16(3, 2), UINT32(4, 4), INT32(5, 4), FLOAT32(6, 4), BOOL(7, 1),
    STRING(8, 8), ARRAY(9, 12), UINT64(10, 8), INT64(11, 8), FLOAT64(12, 8);

    private final int id;
    private final int minBytes;

    GgufValueType(int id, int minBytes) {
        this.id = id;
        this.minBytes = minBytes;
    }

    public int id() {
        return id;
    }

    /** The fewest bytes a value of this type takes (a string or array: its header). */
    int minBytes() {
        return minBytes;
    }

    boolean isInteger() {
        return this != FLOAT32 && this != FLOAT64 && this != BOOL && this != STRING && this != ARRAY;
    }

    /** The type with id {@code id}, or null. */
    static GgufValueType byId(long id) {
        for (GgufValueType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }
}
