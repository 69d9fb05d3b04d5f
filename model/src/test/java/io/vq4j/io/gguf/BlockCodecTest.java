package io.vq4j.io.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The ggml block codecs: byte layouts of ggml-common.h, the reference rounding of
 * ggml-quants.c on hand-computed cases, and round trips on random blocks.
 */
class BlockCodecTest {
    private static byte[] encode(GgmlType t, float[] x) {
        ByteBuffer b = ByteBuffer.allocate((int) t.bytes(x.length)).order(ByteOrder.LITTLE_ENDIAN);
        t.encode(x, 0, x.length, b);
        assertEquals(b.capacity(), b.position(), "fills exactly its bytes");
        return b.array();
    }

    private static float[] decode(GgmlType t, byte[] bytes, int n) {
        float[] out = new float[n];
        t.decode(MemorySegment.ofArray(bytes), 0, out, 0, n);
        return out;
    }

    private static int u8(byte b) {
        return b & 0xFF;
    }

    private static short half(byte[] b, int at) {
        return (short) (u8(b[at]) | u8(b[at + 1]) << 8);
    }

    @Test
    void typesHaveGgmlIdsAndBlockSizes() {
        assertEquals(0, GgmlType.F32.id());
        assertEquals(1, GgmlType.F16.id());
        assertEquals(2, GgmlType.Q4_0.id());
        assertEquals(3, GgmlType.Q4_1.id());
        assertEquals(8, GgmlType.Q8_0.id());
        assertEquals(34, GgmlType.Q8_0.bytes(32));
        assertEquals(36, GgmlType.Q4_0.bytes(64));
        assertEquals(20, GgmlType.Q4_1.bytes(32));
        assertEquals(6, GgmlType.F16.bytes(3));
        assertEquals("q4_K", GgmlType.nameOf(12));
        assertEquals("unknown type 99", GgmlType.nameOf(99));
        assertNull(GgmlType.byId(13));
        assertEquals(210, GgmlType.Q6_K.bytes(256));
        assertEquals(GgmlType.Q8_0, GgmlType.Q6_K.fallback());
        assertEquals(GgmlType.Q4_1, GgmlType.byName("Q4_1"));
        assertEquals(6, GgmlType.Q5_0.id());
        assertEquals(22, GgmlType.Q5_0.bytes(32));
        assertEquals(12, GgmlType.Q4_K.id());
        assertEquals(GgmlType.Q4_K, GgmlType.byName("q4_k"));
        assertEquals("q4_K", GgmlType.Q4_K.ggmlName());
        assertEquals(2 * 144, GgmlType.Q4_K.bytes(512));
        assertEquals(GgmlType.Q5_0, GgmlType.Q4_K.fallback());
        assertEquals(GgmlType.F16, GgmlType.Q5_0.fallback());
    }

    /** max|x| = 127 gives d = 1 exactly, so codes are C's roundf(x): halves away from zero. */
    @Test
    void q8_0RoundsHalvesAwayFromZeroAndLaysOutScaleThenCodes() {
        float[] x = new float[32];
        x[0] = 127f;
        x[1] = 2.5f;
        x[2] = -2.5f;  // roundf gives -3 where Java's Math.round gives -2
        x[3] = 0.5f;
        x[4] = -0.5f;
        x[5] = 1.49f;
        x[6] = -127f;
        byte[] b = encode(GgmlType.Q8_0, x);
        assertEquals(34, b.length);
        assertEquals(0x3C00, half(b, 0), "d = 1.0 as fp16");
        assertArrayEquals(new byte[] {127, 3, -3, 1, -1, 1, -127, 0}, Arrays.copyOfRange(b, 2, 10));
        float[] y = decode(GgmlType.Q8_0, b, 32);
        assertEquals(3f, y[1]);
        assertEquals(-3f, y[2]);
    }

    /** d = 16/127 in fp32 is 0.125984…, stored as fp16 0x3008 = 0.1259765625; codes use the fp32 1/d. */
    @Test
    void q8_0StoresTheScaleAsFp16ButRoundsWithFp32() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) {
            x[j] = j - 16;
        }
        byte[] b = encode(GgmlType.Q8_0, x);
        assertEquals(0x3008, half(b, 0) & 0xFFFF);
        assertEquals(-127, b[2], "-16 / d");
        assertEquals(119, b[2 + 31], "15 · 127/16 = 119.06");
        assertEquals(119 * 0.1259765625f, decode(GgmlType.Q8_0, b, 32)[31]);
    }

    /**
     * x = -8, -7.5, …, 7.5: the largest magnitude is -8 (first), so d = -8 / -8 = 1 and codes are
     * trunc(x + 8.5) = floor((j + 1) / 2), the last one (16) capped at 15; byte j holds code j in
     * its low nibble and code j + 16 in its high nibble.
     */
    @Test
    void q4_0PacksCodeJAndJPlus16IntoByteJ() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) {
            x[j] = -8 + 0.5f * j;
        }
        byte[] b = encode(GgmlType.Q4_0, x);
        assertEquals(18, b.length);
        assertEquals(0x3C00, half(b, 0));
        for (int j = 0; j < 16; j++) {
            int lo = (j + 1) / 2;
            int hi = Math.min(15, (j + 17) / 2);
            assertEquals(lo | hi << 4, u8(b[2 + j]), "byte " + j);
        }
        float[] y = decode(GgmlType.Q4_0, b, 32);
        assertEquals(-8f, y[0]);
        assertEquals(7f, y[30]);
        assertEquals(7f, y[31], "7.5 capped at code 15 decodes to 7");
    }

    /** The first value of largest magnitude sets the sign of d: positive 4 gives d = -0.5, so -4 hits the cap. */
    @Test
    void q4_0TakesTheFirstLargestValueAndCapsTheOtherSide() {
        float[] x = new float[32];
        x[3] = 4f;
        x[7] = -4f;
        byte[] b = encode(GgmlType.Q4_0, x);
        assertEquals(0xB800, half(b, 0) & 0xFFFF, "d = -0.5");
        float[] y = decode(GgmlType.Q4_0, b, 32);
        assertEquals(4f, y[3]);
        assertEquals(-3.5f, y[7], "code trunc(8 + 8.5) = 16 capped at 15: (15 - 8) · -0.5");
        assertEquals(0f, y[0], 0f);
    }

    /** min 3, max 18: d = 1, m = 3; codes trunc(x - 3 + 0.5); layout d, m, then the nibbles. */
    @Test
    void q4_1StoresScaleThenMinimumThenNibbles() {
        float[] x = new float[32];
        for (int j = 0; j < 16; j++) {
            x[j] = 3 + j;
        }
        for (int j = 0; j < 15; j++) {
            x[16 + j] = 3 + j + 0.5f;
        }
        x[31] = 3.49f;
        byte[] b = encode(GgmlType.Q4_1, x);
        assertEquals(20, b.length);
        assertEquals(0x3C00, half(b, 0), "d = 1");
        assertEquals(0x4200, half(b, 2), "m = 3");
        for (int j = 0; j < 16; j++) {
            int hi = j < 15 ? j + 1 : 0;
            assertEquals(j | hi << 4, u8(b[4 + j]), "byte " + j);
        }
        float[] y = decode(GgmlType.Q4_1, b, 32);
        assertEquals(18f, y[15]);
        assertEquals(4f, y[16], "3.5 rounds up to code 1");
        assertEquals(3f, y[31]);
    }

    @Test
    void zeroAndConstantBlocksDecodeExactly() {
        float[] zero = new float[32];
        byte[] q8 = encode(GgmlType.Q8_0, zero);
        assertEquals(0, half(q8, 0));
        byte[] q40 = encode(GgmlType.Q4_0, zero);
        assertEquals(0x8000, half(q40, 0) & 0xFFFF, "d = 0 / -8 = -0.0");
        assertEquals(0x88, u8(q40[2]), "codes 8: value 0");
        float[] five = new float[32];
        Arrays.fill(five, 5f);
        byte[] q41 = encode(GgmlType.Q4_1, five);
        assertEquals(0, half(q41, 0), "d = 0");
        assertEquals(0x4500, half(q41, 2), "m = 5");
        for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1}) {
            assertArrayEquals(zero, decode(t, encode(t, zero), 32), 0f, t.toString());
        }
        assertArrayEquals(five, decode(GgmlType.Q4_1, q41, 32));
    }

    @Test
    void floatTypesRoundTrip() {
        float[] x = {1f, -2.5f, 1 + 0x1p-11f, 65504f, 1e-8f, 3.14159f};
        assertArrayEquals(x, decode(GgmlType.F32, encode(GgmlType.F32, x), x.length));
        float[] h = decode(GgmlType.F16, encode(GgmlType.F16, x), x.length);
        assertEquals(1f, h[2], "halfway between 1 and 1 + 2^-10 rounds to even");
        assertEquals(65504f, h[3]);
        assertEquals(3.140625f, h[5]);
    }

    /**
     * On random blocks of every scale: decoding the bytes gives value(grid, code) of the codec's
     * own steps (one layout, one rule), within half a step of the input (q4_0: one step, for the
     * capped side), plus what storing the scale and minimum as fp16 costs (subnormal for tiny
     * blocks, as in ggml).
     */
    @Test
    void randomBlocksRoundTripWithinTheGridStep() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1}) {
            BlockCodec c = t.codec();
            int levels = t == GgmlType.Q8_0 ? 127 : 15;
            double capped = t == GgmlType.Q4_0 ? 1.0 : 0.5;
            for (int trial = 0; trial < 2000; trial++) {
                float scale = (float) Math.pow(10, rnd.nextDouble(-4, 3));
                float shift = t == GgmlType.Q4_1 ? (float) rnd.nextGaussian() * scale : 0f;
                float[] x = new float[32];
                for (int j = 0; j < 32; j++) {
                    x[j] = (float) rnd.nextGaussian() * scale + shift;
                }
                byte[] b = encode(t, x);
                float[] y = decode(t, b, 32);
                BlockGrid g = c.fit(x, 0);
                BlockGrid read = c.grid(MemorySegment.ofArray(b), 0);
                assertEquals(g.d(), read.d());
                assertEquals(g.m(), read.m());
                double d32 = 1.0 / g.inverse();
                double max = 0;
                for (float v : x) {
                    max = Math.max(max, Math.abs(v));
                }
                double bound = capped * Math.abs(d32) + (levels + 1) * Math.abs(d32 - g.scale())
                        + (t == GgmlType.Q4_1 ? Math.abs(g.min() - g.offset()) : 0) + max * 1e-6;
                for (int j = 0; j < 32; j++) {
                    assertEquals(c.value(g, j, c.code(g, j, x[j])), y[j], t + " value " + j);
                    assertTrue(Math.abs(x[j] - y[j]) <= bound, t + ": " + x[j] + " -> " + y[j] + ", d " + d32);
                }
            }
        }
    }

    /** A value off the grid (as error feedback may produce) is clamped to the representable codes. */
    @Test
    void codesAreClampedToTheirRange() {
        float[] x = new float[32];
        x[0] = 1f;
        for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1}) {
            BlockCodec c = t.codec();
            BlockGrid g = c.fit(x, 0);
            int hi = t == GgmlType.Q8_0 ? 127 : 15;
            int lo = t == GgmlType.Q8_0 ? -128 : 0;
            assertTrue(c.code(g, 0, 1e6f) == hi || c.code(g, 0, 1e6f) == lo, t.toString());
            assertTrue(c.code(g, 0, -1e6f) == hi || c.code(g, 0, -1e6f) == lo, t.toString());
            assertTrue(c.code(g, 0, 1e6f) != c.code(g, 0, -1e6f), t.toString());
        }
    }

    /** q5_0: the fifth bits in the uint32 after d (bit j for code j), the low nibbles as q4_0's. */
    @Test
    void q5_0LaysOutTheFifthBitsThenTheNibbles() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) {
            x[j] = j - 16; // max |x| = 16 at j = 0 (value -16): d = 1, code = x + 16 = j
        }
        byte[] b = encode(GgmlType.Q5_0, x);
        assertEquals(Float.floatToFloat16(1f), half(b, 0));
        int qh = u8(b[2]) | u8(b[3]) << 8 | u8(b[4]) << 16 | u8(b[5]) << 24;
        assertEquals(0xFFFF0000, qh, "codes 16..31 have the fifth bit");
        for (int j = 0; j < 16; j++) {
            assertEquals(j | (j & 15) << 4, u8(b[6 + j]), "byte " + j);
        }
        assertArrayEquals(x, decode(GgmlType.Q5_0, b, 32));
    }

    /**
     * q4_K: the 6-bit scales and mins survive the 12-byte packing for every sub-block (the high
     * bits of sub-blocks 4..7 in the top bits of bytes 0..7), and code j sits in byte j mod 32 of
     * its run of 64, low nibble for the first 32.
     */
    @Test
    void q4_KPacksSixBitScalesAndMinsAndInterleavesRunsOf64() {
        BlockCodec c = GgmlType.Q4_K.codec();
        int[] sub = {63, 1, 32, 17, 48, 5, 62, 33, 0, 63, 31, 16, 47, 60, 2, 41};
        BlockGrid g = new BlockGrid(Float.floatToFloat16(0.5f), Float.floatToFloat16(0.25f), Float.NaN, Float.NaN,
                sub);
        int[] codes = new int[256];
        for (int j = 0; j < 256; j++) {
            codes[j] = (j * 7) % 16;
        }
        ByteBuffer b = ByteBuffer.allocate(144).order(ByteOrder.LITTLE_ENDIAN);
        c.write(g, codes, b);
        assertEquals(144, b.position());
        MemorySegment m = MemorySegment.ofArray(b.array());
        BlockGrid read = c.grid(m, 0);
        assertArrayEquals(sub, read.sub());
        assertEquals(g.d(), read.d());
        assertEquals(g.m(), read.m());
        assertEquals(63, u8(b.array()[4]) & 63, "sc_0 in byte 0 of the scales");
        assertEquals(0, u8(b.array()[4 + 4]) & 63, "m_0 in byte 4");
        assertEquals((48 & 15) | (47 & 15) << 4, u8(b.array()[4 + 8]), "sc_4, m_4 low bits in byte 8");
        assertEquals(codes[1] | codes[33] << 4, u8(b.array()[16 + 1]));
        assertEquals(codes[64 + 5] | codes[96 + 5] << 4, u8(b.array()[16 + 32 + 5]));
        float[] y = decode(GgmlType.Q4_K, b.array(), 256);
        for (int j = 0; j < 256; j++) {
            assertEquals(codes[j], c.code(m, 0, j));
            float d = 0.5f * sub[j / 32];
            float min = 0.25f * sub[8 + j / 32];
            assertEquals(d * codes[j] - min, y[j], "value " + j);
        }
    }

    /**
     * q5_0 and q4_K on random blocks: the bytes decode to value(fit, code) of the codec's own
     * steps, the grid reads back as fitted, and every value lies within a grid step (plus the
     * 6-bit rounding of q4_K's scale and min) of the input.
     */
    @Test
    void q5_0AndQ4_KRoundTripOnTheirOwnGrid() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (GgmlType t : new GgmlType[] {GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q6_K}) {
            BlockCodec c = t.codec();
            int n = t.blockSize();
            for (int trial = 0; trial < 300; trial++) {
                float scale = (float) Math.pow(10, rnd.nextDouble(-3, 2));
                float[] x = new float[n];
                double max = 0;
                for (int j = 0; j < n; j++) {
                    x[j] = (float) rnd.nextGaussian() * scale + (t == GgmlType.Q4_K ? scale : 0f);
                    max = Math.max(max, Math.abs(x[j]));
                }
                byte[] b = encode(t, x);
                float[] y = decode(t, b, n);
                BlockGrid g = c.fit(x, 0);
                BlockGrid read = c.grid(MemorySegment.ofArray(b), 0);
                assertEquals(g.d(), read.d());
                assertEquals(g.m(), read.m());
                assertArrayEquals(g.sub(), read.sub());
                double range = t == GgmlType.Q4_K ? max * 2 / 15 : max / 16;
                for (int j = 0; j < n; j++) {
                    assertEquals(c.value(g, j, c.code(g, j, x[j])), y[j], t + " value " + j);
                    assertTrue(Math.abs(x[j] - y[j]) <= range, t + ": " + x[j] + " -> " + y[j]);
                }
            }
        }
    }
}
