package io.vq4j.testing;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;

/** The fuzz tests' mutations of a seed input (ParserFuzzTest, the packed layout's PackedFuzzTest). */
public final class Mutations {
    private Mutations() {
    }

    /** Mutations of {@code seed}: flips, random bytes, boundary integers, truncations, cut and repeated ranges. */
    public static byte[] mutate(byte[] seed, SplittableRandom r) {
        byte[] b = seed.clone();
        int kind = r.nextInt(7);
        int n = b.length;
        switch (kind) {
            case 0 -> { // a few bit flips
                for (int i = 0, k = 1 + r.nextInt(4); i < k; i++) {
                    int at = r.nextInt(n);
                    b[at] ^= (byte) (1 << r.nextInt(8));
                }
            }
            case 1 -> { // random bytes
                for (int i = 0, k = 1 + r.nextInt(8); i < k; i++) {
                    b[r.nextInt(n)] = (byte) r.nextInt(256);
                }
            }
            case 2 -> { // a boundary integer over 4 or 8 bytes
                long[] values = {0, -1, 1, Integer.MAX_VALUE, Integer.MIN_VALUE, Long.MAX_VALUE, 1L << 31, 1L << 32,
                        0x7FFFFFF8L, 65536};
                long v = values[r.nextInt(values.length)];
                int w = r.nextBoolean() ? 4 : 8;
                int at = r.nextInt(Math.max(1, n - w));
                ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                if (w == 4) {
                    bb.putInt(at, (int) v);
                } else if (at + 8 <= n) {
                    bb.putLong(at, v);
                }
            }
            case 3 -> b = Arrays.copyOf(b, r.nextInt(n)); // truncated
            case 4 -> { // a range cut out
                int from = r.nextInt(n);
                int to = Math.min(n, from + 1 + r.nextInt(64));
                byte[] c = new byte[n - (to - from)];
                System.arraycopy(b, 0, c, 0, from);
                System.arraycopy(b, to, c, from, n - to);
                b = c;
            }
            case 5 -> { // a range repeated
                int from = r.nextInt(n);
                int len = Math.min(n - from, 1 + r.nextInt(64));
                byte[] c = new byte[n + len];
                System.arraycopy(b, 0, c, 0, from + len);
                System.arraycopy(b, from, c, from + len, n - from);
                b = c;
            }
            default -> { // a digit of a JSON number made large, or a character of the text changed
                int at = r.nextInt(n);
                b[at] = (byte) "0123456789-.e\"{}[],: x".charAt(r.nextInt(22));
            }
        }
        return b;
    }
}
