package io.vq4j.kernels.packed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BitPackingTest {
    @Test
    void everyWidthRoundTripsIncludingOddTotals() {
        SplittableRandom r = new SplittableRandom(1);
        for (int width = 1; width <= 16; width++) {
            for (int count : new int[] {0, 1, 2, 3, 7, 8, 9, 13, 1000, 1001}) {
                int[] v = new int[count];
                for (int i = 0; i < count; i++) {
                    v[i] = r.nextInt(1 << width);
                }
                if (count > 1) {
                    v[0] = (1 << width) - 1; // all ones
                    v[1] = 0;
                }
                byte[] p = BitPacking.pack(v, width);
                assertEquals((count * width + 7) / 8, p.length, "dense: width " + width + " count " + count);
                assertArrayEquals(v, BitPacking.unpack(p, count, width), "width " + width + " count " + count);
                for (int i = 0; i < count; i++) {
                    assertEquals(v[i], BitPacking.get(p, i, width), "get width " + width + " at " + i);
                }
            }
        }
    }

    /** Long enough for BitPacking's parallel chunks, with a ragged tail: the one-value-at-a-time stream. */
    @Test
    void longStreamsAreTheSerialStreamWithTheFirstBadValueNamed() {
        SplittableRandom r = new SplittableRandom(2);
        for (int width : new int[] {3, 4, 12}) {
            int count = 3_000_005;
            int[] v = new int[count];
            for (int i = 0; i < count; i++) {
                v[i] = r.nextInt(1 << width);
            }
            byte[] p = BitPacking.pack(v, width);
            byte[] serial = new byte[p.length];
            for (int i = 0; i < count; i++) {
                for (int b = 0; b < width; b++) {
                    long bit = (long) i * width + b;
                    serial[(int) (bit >>> 3)] |= (byte) (((v[i] >>> b) & 1) << (bit & 7));
                }
            }
            assertArrayEquals(serial, p, "width " + width);
            assertArrayEquals(v, BitPacking.unpack(p, count, width), "width " + width);
            byte[] shifted = new byte[p.length + 5];
            System.arraycopy(p, 0, shifted, 5, p.length);
            assertArrayEquals(v, BitPacking.unpack(shifted, 5, count, width), "width " + width + " at byte 5");
            v[2_900_000] = 1 << width;
            v[100_001] = -1;
            int[] bad = v;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BitPacking.pack(bad, width));
            assertEquals("value -1 at 100001 does not fit in " + width + " bits", e.getMessage());
        }
    }

    @Test
    void bitOrderIsLittleEndianByHand() {
        // 3-bit values 1, 2, 7 → bits (lsb first) 100 010 111 → byte0 = 0b11_010_001, byte1 = 0b1
        assertArrayEquals(new byte[] {(byte) 0b11010001, 0b1}, BitPacking.pack(new int[] {1, 2, 7}, 3));
        // 12-bit 0xABC, 0x123 → bytes BC, 3A, 12
        assertArrayEquals(new byte[] {(byte) 0xBC, 0x3A, 0x12}, BitPacking.pack(new int[] {0xABC, 0x123}, 12));
    }

    @Test
    void valuesThatDoNotFitAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> BitPacking.pack(new int[] {8}, 3));
        assertThrows(IllegalArgumentException.class, () -> BitPacking.pack(new int[] {-1}, 16));
        assertThrows(IllegalArgumentException.class, () -> BitPacking.pack(new int[] {0}, 17));
    }
}
