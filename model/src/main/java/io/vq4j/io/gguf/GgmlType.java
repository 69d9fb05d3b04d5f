package io.vq4j.io.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Locale;

/**
 * The ggml tensor types vq4j reads and writes, with ggml's type ids and block geometry
 * (ggml.h {@code enum ggml_type}, ggml-common.h block structs): a row of {@code n} values is
 * {@code n / blockSize} blocks of {@code blockBytes} bytes each.
 */
public enum GgmlType {
    F32(0, 1, 4, null),
    F16(1, 1, 2, null),
    Q4_0(2, 32, 18, new Q40()),
    Q4_1(3, 32, 20, new Q41()),
    Q5_0(6, 32, 22, new Q50()),
    Q8_0(8, 32, 34, new Q80()),
    Q4_K(12, 256, 144, new Q4K()),
    Q6_K(14, 256, 210, new Q6K());

    /** ggml's names by type id, for messages about types vq4j does not handle (null: no such id). */
    private static final String[] GGML_NAMES = {"f32", "f16", "q4_0", "q4_1", null, null, "q5_0", "q5_1", "q8_0",
            "q8_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K", "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl",
            "iq3_s", "iq2_s", "iq4_xs", "i8", "i16", "i32", "i64", "f64", "iq1_m", "bf16", null, null, null, "tq1_0",
            "tq2_0", null, null, null, "mxfp4", "nvfp4", "q1_0", "q2_0"};

    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED
            .withOrder(ByteOrder.LITTLE_ENDIAN);

    private final int id;
    private final int blockSize;
    private final int blockBytes;
    private final BlockCodec codec;

    GgmlType(int id, int blockSize, int blockBytes, BlockCodec codec) {
        this.id = id;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
        this.codec = codec;
    }

    public int id() {
        return id;
    }

    /** Values per block (1 for the float types). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int blockBytes() {
        return blockBytes;
    }

    /** The block codec of a quantized type; null for F32 and F16. */
    public BlockCodec codec() {
        return codec;
    }

    public boolean isQuantized() {
        return codec != null;
    }

    /** Bytes of {@code elements} values, which must be a whole number of blocks. */
    public long bytes(long elements) {
        if (elements % blockSize != 0) {
            throw new IllegalArgumentException(elements + " values are not whole " + this + " blocks of " + blockSize);
        }
        return elements / blockSize * blockBytes;
    }

    /**
     * Appends {@code x[off, off + n)} in this type to {@code out} (little-endian): floats as they
     * are, fp16 rounded to nearest even, quantized types block by block with the reference
     * rounding. {@code n} must be a whole number of blocks.
     */
    public void encode(float[] x, int off, int n, ByteBuffer out) {
        bytes(n);
        if (out.order() != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalArgumentException("GGUF data is little-endian");
        }
        switch (this) {
            case F32 -> {
                for (int i = 0; i < n; i++) {
                    out.putFloat(x[off + i]);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out.putShort(Float.floatToFloat16(x[off + i]));
                }
            }
            default -> {
                for (int b = 0; b < n; b += blockSize) {
                    codec.quantize(x, off + b, out);
                }
            }
        }
    }

    /** Decodes {@code n} values stored in this type at {@code offset} into {@code out[off, off + n)}. */
    public void decode(MemorySegment in, long offset, float[] out, int off, int n) {
        bytes(n);
        switch (this) {
            case F32 -> MemorySegment.copy(in, F32_LE, offset, out, off, n);
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[off + i] = Float.float16ToFloat(in.get(Q80.HALF, offset + 2L * i));
                }
            }
            default -> {
                for (int b = 0; b < n / blockSize; b++) {
                    codec.decode(in, offset + (long) b * blockBytes, out, off + b * blockSize);
                }
            }
        }
    }

    /** The name ggml and llama.cpp use ("q4_0", "q4_K"). */
    public String ggmlName() {
        String n = name().toLowerCase(Locale.ROOT);
        return n.endsWith("_k") ? n.substring(0, n.length() - 1) + "K" : n;
    }

    /**
     * The type llama.cpp's quantizer stores a tensor in when its rows are not whole blocks of
     * this type (llama-quant.cpp, tensor_type_fallback): q4_K → q5_0, q6_K → q8_0; a 32-value type whose
     * blocks do not fit either → f16. Null for F32 and F16.
     */
    public GgmlType fallback() {
        return switch (this) {
            case F32, F16 -> null;
            case Q4_K -> Q5_0;
            case Q6_K -> Q8_0;
            default -> F16;
        };
    }

    /** The type with ggml id {@code id}, or null when vq4j does not handle it. */
    public static GgmlType byId(long id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }

    /** ggml's name of type id {@code id} (known or not), or "unknown type N". */
    public static String nameOf(long id) {
        return id >= 0 && id < GGML_NAMES.length && GGML_NAMES[(int) id] != null ? GGML_NAMES[(int) id]
                : "unknown type " + id;
    }

    /** The type named {@code name} ("q8_0", case-insensitive), or null. */
    public static GgmlType byName(String name) {
        for (GgmlType t : values()) {
            if (t.ggmlName().equalsIgnoreCase(name)) {
                return t;
            }
        }
        return null;
    }
}
