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

    @Test
    void matmulMatchesDoubleReferenceOnOddShapes() {
        SplittableRandom r = new SplittableRandom(3);
        int[][] shapes = {{1, 1, 1}, {1, 1, 7}, {3, 5, 2}, {1, 17, 33}, {5, 16, 4}, {7, 31, 9}, {9, 64, 13},
                {70, 77, 67}, {4, 1000, 130}, {130, 48, 5}};
        for (int[] s : shapes) {
            int rows = s[0], in = s[1], out = s[2];
            float[] x = random(r, rows * in);
            float[] w = random(r, out * in);
            float[] b = out % 2 == 0 ? random(r, out) : null;
            float[] got = new float[rows * out];
            float[] ref = new float[rows * out];
            CpuKernels.matmulTransposed(x, rows, in, w, out, b, got);
            CpuKernels.matmulTransposedReference(x, rows, in, w, out, b, ref);
            for (int i = 0; i < got.length; i++) {
                assertEquals(ref[i], got[i], 1e-5 * Math.sqrt(in) * 4, "shape " + java.util.Arrays.toString(s) + " at " + i);
            }
        }
    }

    @Test
    void everyOutputIsReducedInOneOrderWhateverKernelComputesIt() {
        // the 4x4, 1x4 and 1x1 micro-kernels must agree bit for bit with the plain dot product,
        // so results do not depend on how rows and columns fall into tiles or threads
        SplittableRandom r = new SplittableRandom(4);
        int rows = 11, in = 203, out = 70;
        float[] x = random(r, rows * in);
        float[] w = random(r, out * in);
        float[] got = new float[rows * out];
        CpuKernels.matmulTransposed(x, rows, in, w, out, null, got);
        float[] expected = new float[rows * out];
        for (int i = 0; i < rows; i++) {
            for (int o = 0; o < out; o++) {
                expected[i * out + o] = CpuKernels.dot(x, i * in, w, o * in, in);
            }
        }
        assertArrayEquals(expected, got);
        float[] firstRowsOnly = new float[3 * out];
        CpuKernels.matmulTransposed(x, 3, in, w, out, null, firstRowsOnly);
        assertArrayEquals(java.util.Arrays.copyOf(got, 3 * out), firstRowsOnly);
    }

    @Test
    void largeMatmulIsDeterministicAcrossRuns() {
        SplittableRandom r = new SplittableRandom(5);
        int rows = 64, in = 256, out = 1024;
        float[] x = random(r, rows * in);
        float[] w = random(r, out * in);
        float[] a = new float[rows * out];
        float[] b = new float[rows * out];
        CpuKernels.matmulTransposed(x, rows, in, w, out, null, a);
        CpuKernels.matmulTransposed(x, rows, in, w, out, null, b);
        assertArrayEquals(a, b);
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
