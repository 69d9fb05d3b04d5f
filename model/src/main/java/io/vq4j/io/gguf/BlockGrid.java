package io.vq4j.io.gguf;

/**
 * The grid of one quantized block: what the block stores (fp16 scale {@code d} and, for types
 * with an offset, fp16 minimum {@code m}, as raw half-precision bits) and what the reference
 * rounding works with before those fp16 roundings ({@code inverse} = 1/d in fp32,
 * {@code min} in fp32). ggml rounds values with the fp32 numbers but decodes them with the
 * fp16 ones, so both are kept. A quantizer that picks codes with error feedback (GPTQ onto the
 * grid) rounds with {@link BlockCodec#code} and measures its error with {@link BlockCodec#value}.
 *
 * <p>K-quant super-blocks (q4_K) also quantize the scale and min of each sub-block of 32 values:
 * {@code sub} holds those 6-bit integers (the eight scales, then the eight mins), {@code d} and
 * {@code m} are then the super-block's fp16 {@code d} and {@code dmin}, and a sub-block's scale
 * is d·sub[j], its min dmin·sub[8 + j]. Null for the 32-value types.
 */
public record BlockGrid(short d, short m, float inverse, float min, int[] sub) {
    /** The stored scale, as ggml decodes it. */
    public float scale() {
        return Float.float16ToFloat(d);
    }

    /** The stored minimum (offset), as ggml decodes it; 0 for types without one. */
    public float offset() {
        return Float.float16ToFloat(m);
    }
}
