package io.vq4j.io;

/**
 * Element types of the safetensors format; {@link #name()} is the name the format uses, and
 * {@link #bytes()} the size of one element on disk (always little-endian).
 */
public enum DType {
    F64(8, true), F32(4, true), F16(2, true), BF16(2, true),
    I64(8, false), I32(4, false), I16(2, false), I8(1, false), U8(1, false), BOOL(1, false);

    private final int bytes;
    private final boolean floating;

    DType(int bytes, boolean floating) {
        this.bytes = bytes;
        this.floating = floating;
    }

    public int bytes() {
        return bytes;
    }

    public boolean isFloating() {
        return floating;
    }

    /** The dtype for a safetensors name, or null. */
    public static DType parse(String name) {
        for (DType d : values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        return null;
    }

    /** The value {@code v} reads back as after being stored in this float dtype. */
    public float stored(float v) {
        return switch (this) {
            case F32, F64 -> v;
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(v));
            case BF16 -> bf16ToFloat(floatToBf16(v));
            default -> throw new IllegalArgumentException(this + " is not a float dtype");
        };
    }

    /** bf16 is the top half of an fp32, so widening is a shift. */
    public static float bf16ToFloat(short b) {
        return Float.intBitsToFloat((b & 0xffff) << 16);
    }

    /**
     * Round to nearest, ties to even (as PyTorch does); overflow goes to infinity. NaN stays
     * a NaN: truncating could clear every mantissa bit left and make it an infinity.
     */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
