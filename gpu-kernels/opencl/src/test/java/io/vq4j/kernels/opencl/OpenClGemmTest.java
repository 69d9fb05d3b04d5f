package io.vq4j.kernels.opencl;

import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * sgemm.cl ({@link OpenClGemm}, both overloads of OpenClBackend.gemm) against CpuBackend.gemm, bit
 * for bit: ragged m, n, k (not multiples of the 8 × 16 tile), every transposition, alpha and beta,
 * beta = 0 over NaN, k = 0, and the resident overload's offsets into larger matrices.
 */
class OpenClGemmTest {
    private static OpenClBackend dev;
    private static final CpuBackend CPU = new CpuBackend();
    private static final int[][] SHAPES = {{1, 1, 1}, {7, 17, 3}, {8, 16, 16}, {9, 33, 65}, {37, 15, 130},
            {64, 48, 0}, {130, 70, 257}};

    @BeforeAll
    static void open() {
        dev = OpenClTestDevice.open();
    }

    @AfterAll
    static void close() {
        if (dev != null) {
            dev.close();
        }
    }

    private static float[] gauss(SplittableRandom r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (r.nextDouble() * 2 - 1) * (1 + (i % 7));
        }
        return x;
    }

    private static void assertBits(float[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(got[i])) {
                assertEquals(want[i], got[i], 0f, what + " at " + i);
                throw new AssertionError(what + " at " + i + ": bits of " + want[i] + " and " + got[i]);
            }
        }
    }

    /**
     * quadraticForms on the device (the SPI's default: sgemm.cl's product, summed on the host) against
     * the CPU's half-product form: both within the SPI's bound of the exact value, so within twice it
     * of each other.
     */
    @Test
    void quadraticFormsAgreeWithTheCpuWithinTheirBound() {
        SplittableRandom r = new SplittableRandom(18);
        for (int[] sh : new int[][] {{7, 17}, {37, 70}, {65, 300}}) {
            int rows = sh[0], n = sh[1];
            float[] h = new float[n * n];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j <= i; j++) {
                    float v = (float) r.nextGaussian() + (i == j ? n : 0);
                    h[i * n + j] = v;
                    h[j * n + i] = v;
                }
            }
            float[] a = gauss(r, rows * n);
            double mag = 0;
            for (int x = 0; x < rows; x++) {
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < n; j++) {
                        mag += Math.abs((double) a[x * n + i] * h[i * n + j] * a[x * n + j]);
                    }
                }
            }
            double want = CPU.quadraticForms(h, n, rows, a)[0];
            double got = dev.quadraticForms(h, n, rows, a)[0];
            assertEquals(want, got, 2 * (n + 2) * Math.scalb(1.0, -24) * mag, rows + "x" + n);
        }
    }

    @Test
    void arrayGemmEqualsTheCpuBitForBit() {
        SplittableRandom r = new SplittableRandom(16);
        for (int[] s : SHAPES) {
            int m = s[0], n = s[1], k = s[2];
            for (boolean ta : new boolean[]{false, true}) {
                for (boolean tb : new boolean[]{false, true}) {
                    for (float[] ab : new float[][]{{1f, 0f}, {-1.5f, 1f}, {0.75f, -0.5f}}) {
                        float[] a = gauss(r, m * k), b = gauss(r, k * n), c0 = gauss(r, m * n);
                        if (ab[1] == 0f) {
                            Arrays.fill(c0, 0, Math.min(5, c0.length), Float.NaN); // ignored when beta = 0
                        }
                        float[] want = c0.clone(), got = c0.clone();
                        CPU.gemm(ta, tb, m, n, k, ab[0], a, b, ab[1], want);
                        dev.gemm(ta, tb, m, n, k, ab[0], a, b, ab[1], got);
                        assertBits(want, got, "gemm " + ta + "," + tb + " " + m + "x" + n + "x" + k + " alpha="
                                + ab[0] + " beta=" + ab[1]);
                    }
                }
            }
        }
    }

    @Test
    void residentGemmAtOffsetsEqualsTheCpuBitForBit() {
        SplittableRandom r = new SplittableRandom(17);
        for (int[] s : SHAPES) {
            int m = s[0], n = s[1], k = s[2];
            for (boolean ta : new boolean[]{false, true}) {
                for (boolean tb : new boolean[]{false, true}) {
                    for (float[] ab : new float[][]{{1f, 0f}, {-1f, 1f}, {0.75f, -0.5f}}) {
                        int ar = (ta ? k : m) + 5, ac = (ta ? m : k) + 3;
                        int br = (tb ? n : k) + 2, bc = (tb ? k : n) + 7;
                        int cr = m + 4, cc = n + 9;
                        float[] a = gauss(r, ar * ac), b = gauss(r, br * bc), c = gauss(r, cr * cc);
                        if (ab[1] == 0f) {
                            Arrays.fill(c, Float.NaN);
                        }
                        float[] want = c.clone();
                        CPU.gemm(ta, tb, m, n, k, ab[0], CPU.resident(a, ar, ac), 4, 2, CPU.resident(b, br, bc), 1, 5,
                                ab[1], CPU.resident(want, cr, cc), 3, 6);
                        try (ResidentMatrix da = dev.resident(a, ar, ac); ResidentMatrix db = dev.resident(b, br, bc);
                             ResidentMatrix dc = dev.resident(c, cr, cc)) {
                            dev.gemm(ta, tb, m, n, k, ab[0], da, 4, 2, db, 1, 5, ab[1], dc, 3, 6);
                            float[] got = new float[cr * cc];
                            dev.read(dc, 0, 0, cr, cc, got, 0, cc);
                            assertBits(want, got, "resident gemm " + ta + "," + tb + " " + m + "x" + n + "x" + k
                                    + " alpha=" + ab[0] + " beta=" + ab[1]);
                        }
                    }
                }
            }
        }
    }
}
