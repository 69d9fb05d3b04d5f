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
