package io.vq4j.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CpuKernelsTest {
    private static float[] random(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    private static final int[][] SHAPES = {{1, 1, 1}, {1, 1, 7}, {3, 5, 2}, {1, 17, 33}, {5, 16, 4}, {7, 31, 9},
            {9, 64, 13}, {70, 77, 67}, {4, 1000, 130}, {130, 48, 5}, {66, 64, 16}, {5, 3, 32}};

    @Test
    void packedMatmulEqualsSequentialFmaReferenceBitForBit() {
        // each output lane accumulates by FMA in k order, exactly as the scalar reference: the
        // result is the same whichever micro-kernel, tile, thread or JIT tier computes it
        SplittableRandom r = new SplittableRandom(3);
        for (int[] s : SHAPES) {
            int rows = s[0], in = s[1], out = s[2];
            float[] x = random(r, rows * in);
            float[] w = random(r, out * in);
            float[] b = out % 2 == 0 ? random(r, out) : null;
            float[] got = new float[rows * out];
            float[] ref = new float[rows * out];
            PackedMatmul.pack(w, out, in).multiply(x, rows, b, got);
            PackedMatmul.reference(x, rows, in, w, out, b, ref);
            assertArrayEquals(ref, got, "shape " + java.util.Arrays.toString(s));
        }
    }

    @Test
    void packedMatmulIsCloseToDoublePrecision() {
        SplittableRandom r = new SplittableRandom(4);
        int rows = 33, in = 517, out = 71;
        float[] x = random(r, rows * in);
        float[] w = random(r, out * in);
        float[] got = new float[rows * out];
        PackedMatmul.pack(w, out, in).multiply(x, rows, null, got);
        for (int i = 0; i < rows; i++) {
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int k = 0; k < in; k++) {
                    s += (double) x[i * in + k] * w[o * in + k];
                }
                assertEquals(s, got[i * out + o], 1e-4 * Math.sqrt(in));
            }
        }
    }

    @Test
    void packingRoundTrips() {
        SplittableRandom r = new SplittableRandom(5);
        float[] w = random(r, 37 * 11);
        assertArrayEquals(w, PackedMatmul.pack(w, 37, 11).unpack());
        float[] tall = random(r, 1001 * 67); // panels in several parallel chunks, a ragged last panel
        assertArrayEquals(tall, PackedMatmul.pack(tall, 1001, 67).unpack());
    }

    @Test
    void dotSumsInOneOrderWhateverTheJitTier() {
        SplittableRandom r = new SplittableRandom(6);
        float[] a = random(r, 203);
        float[] b = random(r, 203);
        float[] scratch = new float[CpuKernels.lanes()];
        float first = CpuKernels.dot(a, 0, b, 0, 203, scratch);
        for (int i = 0; i < 200_000; i++) { // long enough for C2 to compile it
            assertEquals(Float.floatToIntBits(first), Float.floatToIntBits(CpuKernels.dot(a, 0, b, 0, 203, scratch)));
        }
        assertEquals(CpuKernels.dotScalar(a, 0, b, 0, 203), first, 1e-4);
    }

    @Test
    void rmsnormAndAxpyAgreeWithHandValues() {
        float[] x = {3, 4};
        float[] out = new float[2];
        CpuKernels.rmsnorm(x, 0, new float[] {1, 2}, 0f, out, 0, 2);
        double rms = Math.sqrt((9 + 16) / 2.0);
        assertEquals(3 / rms, out[0], 1e-6);
        assertEquals(8 / rms, out[1], 1e-6);
        float[] y = new float[37];
        float[] v = new float[37];
        for (int i = 0; i < 37; i++) {
            v[i] = i;
            y[i] = 1;
        }
        CpuKernels.axpy(0.5f, v, 0, y, 0, 37);
        for (int i = 0; i < 37; i++) {
            assertEquals(1 + 0.5f * i, y[i], 0f);
        }
    }
}
