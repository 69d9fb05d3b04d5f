package io.vq4j.kernels;

import io.vq4j.kernels.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Resident matrices of a backend against the CPU backend's array operations: regions written and
 * read back, gemm on sub-matrix views (every transposition, offsets, leading dimensions larger
 * than the view, beta = 0 over NaN, k = 0) and GPTQ's lazy update sequence on one resident W.
 * The CPU backend's own test ({@code CpuResidentTest}) asks for the same bits as the array gemm;
 * a GPU backend's (CLBlast, cuBLAS sum in their own order) for the array gemm's tolerance.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class ResidentParityTest {
    protected Backend dev;
    protected final Backend cpu = new CpuBackend();

    /** The backend under test; skips (an assumption) when its device is absent and not required. */
    protected abstract Backend open();

    /** The allowed |difference| for a gemm result of magnitude |ref| (0: bit for bit). */
    protected abstract float tolerance(float ref);

    @BeforeAll
    void openDevice() {
        dev = open();
    }

    @AfterAll
    void closeDevice() {
        if (dev != null) {
            dev.close();
        }
    }

    protected static float[] gaussian(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            float tol = tolerance(want[i]);
            if (tol == 0f) {
                assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]),
                        what + " at " + i + ": " + want[i] + " vs " + got[i]);
            } else {
                assertEquals(want[i], got[i], tol, what + " at " + i);
            }
        }
    }

    @Test
    void regionsWrittenAndReadBackAreTheSameValues() {
        SplittableRandom r = new SplittableRandom(1);
        int rows = 13, cols = 29;
        float[] a = gaussian(r, rows * cols);
        float[] expect = a.clone();
        try (ResidentMatrix m = dev.resident(a.clone(), rows, cols)) {
            float[] whole = new float[rows * cols];
            dev.read(m, 0, 0, rows, cols, whole, 0, cols);
            assertArrayEquals(expect, whole, "upload, then read all");
            float[] patch = gaussian(r, 5 * 7 + 3);
            dev.write(m, 4, 9, 3, 5, patch, 3, 7); // 3 rows of 5 from a host array with row stride 7
            for (int i = 0; i < 3; i++) {
                System.arraycopy(patch, 3 + i * 7, expect, (4 + i) * cols + 9, 5);
            }
            float[] region = new float[2 + 4 * 11];
            Arrays.fill(region, -7f);
            dev.read(m, 3, 8, 4, 7, region, 2, 11);
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 11; j++) {
                    float want = j < 7 ? expect[(3 + i) * cols + 8 + j] : -7f; // the gaps stay untouched
                    assertEquals(want, region[2 + i * 11 + j], "region at " + i + "," + j);
                }
            }
            assertThrows(IllegalArgumentException.class, () -> dev.read(m, 10, 0, 4, 1, new float[4], 0, 1));
            assertThrows(IllegalArgumentException.class, () -> dev.write(m, 0, 25, 1, 5, new float[5], 0, 5));
            assertThrows(IllegalArgumentException.class, () -> dev.read(m, 0, 0, 2, 3, new float[5], 0, 3));
        }
    }

    @Test
    void gemmOnViewsMatchesTheArrayGemmInEveryTransposition() {
        SplittableRandom r = new SplittableRandom(2);
        int m = 37, n = 29, k = 53;
        for (boolean ta : new boolean[]{false, true}) {
            for (boolean tb : new boolean[]{false, true}) {
                for (float beta : new float[]{0f, 1f, 0.5f}) {
                    int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
                    // each operand sits inside a bigger matrix, at an offset, with a wider row
                    int aR = ar + 5, aC = ac + 3, bR = br + 2, bC = bc + 7, cR = m + 4, cC = n + 6;
                    float[] a = gaussian(r, aR * aC);
                    float[] b = gaussian(r, bR * bC);
                    float[] c = gaussian(r, cR * cC);
                    float[] av = view(a, aC, 2, 1, ar, ac);
                    float[] bv = view(b, bC, 1, 4, br, bc);
                    float[] cv = view(c, cC, 3, 2, m, n);
                    if (beta == 0f) {
                        for (int i = 0; i < m; i++) {
                            Arrays.fill(c, (3 + i) * cC + 2, (3 + i) * cC + 2 + n, Float.NaN); // ignored
                        }
                    }
                    cpu.gemm(ta, tb, m, n, k, -1.25f, av, bv, beta, cv);
                    float[] want = c.clone();
                    for (int i = 0; i < m; i++) {
                        System.arraycopy(cv, i * n, want, (3 + i) * cC + 2, n);
                    }
                    float[] got = new float[c.length];
                    try (ResidentMatrix da = dev.resident(a, aR, aC); ResidentMatrix db = dev.resident(b, bR, bC);
                         ResidentMatrix dc = dev.resident(c, cR, cC)) {
                        dev.gemm(ta, tb, m, n, k, -1.25f, da, 2, 1, db, 1, 4, beta, dc, 3, 2);
                        dev.read(dc, 0, 0, cR, cC, got, 0, cC);
                    }
                    assertClose(want, got, "ta=" + ta + " tb=" + tb + " beta=" + beta);
                }
            }
        }
    }

    /**
     * Weights uploaded as {@link Backend#residentWeights} (the CPU packs them once) give the array
     * gemm's values as B of Y = X·Wᵀ, whole, on ragged shapes and several row counts; and as any
     * other operand or region, where no packing of the upload applies.
     */
    @Test
    void residentWeightsGiveTheArrayGemmsValuesWholeAndInPart() {
        SplittableRandom r = new SplittableRandom(5);
        for (int[] s : new int[][]{{1, 1, 1}, {7, 33, 19}, {64, 40, 130}, {3, 257, 65}}) {
            int m = s[0], out = s[1], in = s[2];
            float[] w = gaussian(r, out * in);
            float[] x = gaussian(r, m * in);
            float[] want = new float[m * out];
            cpu.gemm(false, true, m, out, in, 1f, x, w, 0f, want);
            float[] got = new float[m * out];
            float[] twice = new float[m * out];
            try (ResidentMatrix dw = dev.residentWeights(w, out, in); ResidentMatrix dx = dev.resident(x, m, in);
                 ResidentMatrix dy = dev.resident(new float[m * out], m, out)) {
                dev.gemm(false, true, m, out, in, 1f, dx, 0, 0, dw, 0, 0, 0f, dy, 0, 0);
                dev.read(dy, 0, 0, m, out, got, 0, out);
                dev.gemm(false, true, m, out, in, 1f, dx, 0, 0, dw, 0, 0, 0f, dy, 0, 0); // the same upload again
                dev.read(dy, 0, 0, m, out, twice, 0, out);
                float[] back = new float[out * in];
                dev.read(dw, 0, 0, out, in, back, 0, in);
                assertArrayEquals(w, back, "the upload reads back as the weights");
                if (out > 1 && in > 1) { // a region of the upload, and the upload as A (W · xᵀ)
                    int o2 = out - 1, i2 = in - 1;
                    float[] wv = view(w, in, 1, 1, o2, i2);
                    float[] xv = view(x, in, 0, 1, m, i2);
                    float[] wantPart = new float[m * o2];
                    cpu.gemm(false, true, m, o2, i2, 1f, xv, wv, 0f, wantPart);
                    float[] gotPart = new float[m * o2];
                    try (ResidentMatrix dp = dev.resident(new float[m * o2], m, o2)) {
                        dev.gemm(false, true, m, o2, i2, 1f, dx, 0, 1, dw, 1, 1, 0f, dp, 0, 0);
                        dev.read(dp, 0, 0, m, o2, gotPart, 0, o2);
                    }
                    assertClose(wantPart, gotPart, "a region of the weights " + Arrays.toString(s));
                    float[] wantA = new float[out * m];
                    cpu.gemm(false, true, out, m, in, 1f, w, x, 0f, wantA);
                    float[] gotA = new float[out * m];
                    try (ResidentMatrix da = dev.resident(new float[out * m], out, m)) {
                        dev.gemm(false, true, out, m, in, 1f, dw, 0, 0, dx, 0, 0, 0f, da, 0, 0);
                        dev.read(da, 0, 0, out, m, gotA, 0, m);
                    }
                    assertClose(wantA, gotA, "the weights as A " + Arrays.toString(s));
                }
            }
            assertClose(want, got, "Y = X·Wᵀ from residentWeights " + Arrays.toString(s));
            assertArrayEquals(got, twice, "the same bits from the same upload");
        }
    }

    @Test
    void gemmWithNoInnerDimensionScalesC() {
        float[] c = {1f, 2f, 3f, 4f, 5f, 6f};
        float[] want = c.clone();
        cpu.gemm(false, false, 2, 2, 0, 2f, new float[0], new float[0], 0.5f, view(want, 3, 0, 1, 2, 2));
        float[] w2 = c.clone();
        float[] v = view(c, 3, 0, 1, 2, 2);
        cpu.gemm(false, false, 2, 2, 0, 2f, new float[0], new float[0], 0.5f, v);
        w2[1] = v[0];
        w2[2] = v[1];
        w2[4] = v[2];
        w2[5] = v[3];
        float[] got = new float[6];
        try (ResidentMatrix a = dev.resident(new float[4], 2, 2); ResidentMatrix b = dev.resident(new float[4], 2, 2);
             ResidentMatrix dc = dev.resident(c.clone(), 2, 3)) {
            dev.gemm(false, false, 2, 2, 0, 2f, a, 0, 0, b, 0, 0, 0.5f, dc, 0, 1);
            dev.read(dc, 0, 0, 2, 3, got, 0, 3);
        }
        assertArrayEquals(w2, got);
    }

    /**
     * GPTQ's lazy update, block after block on one resident W (W[:, i2:] −= E · U[i1:i2, i2:]),
     * against the same sequence on copies of W's tail through the array gemm.
     */
    @Test
    void lazyUpdatesOnOneResidentMatrixMatchUpdatesOnCopies() {
        SplittableRandom r = new SplittableRandom(3);
        int rows = 21, cols = 75, bs = 16;
        float[] w = gaussian(r, rows * cols);
        float[] u = gaussian(r, cols * cols);
        float[] ref = w.clone();
        float[] got = new float[rows * cols];
        try (ResidentMatrix dw = dev.resident(w.clone(), rows, cols);
             ResidentMatrix de = dev.resident(new float[rows * bs], rows, bs);
             ResidentMatrix du = dev.resident(new float[bs * cols], bs, cols)) {
            for (int i1 = 0; i1 < cols; i1 += bs) {
                int i2 = Math.min(cols, i1 + bs), width = i2 - i1, rest = cols - i2;
                if (rest == 0) {
                    break;
                }
                float[] e = gaussian(r, rows * width);
                float[] ub = new float[width * rest];
                for (int a = 0; a < width; a++) {
                    System.arraycopy(u, (i1 + a) * cols + i2, ub, a * rest, rest);
                }
                float[] tail = view(ref, cols, 0, i2, rows, rest);
                cpu.gemm(false, false, rows, rest, width, -1f, e, ub, 1f, tail);
                for (int i = 0; i < rows; i++) {
                    System.arraycopy(tail, i * rest, ref, i * cols + i2, rest);
                }
                dev.write(de, 0, 0, rows, width, e, 0, width);
                dev.write(du, 0, i2, width, rest, u, i1 * cols + i2, cols);
                dev.gemm(false, false, rows, rest, width, -1f, de, 0, 0, du, 0, i2, 1f, dw, 0, i2);
            }
            dev.read(dw, 0, 0, rows, cols, got, 0, cols);
        }
        assertClose(ref, got, "W after the lazy updates");
    }

    @Test
    void aMatrixFromAnotherBackendIsRefused() {
        Backend other = new CpuBackend();
        try (ResidentMatrix m = other.resident(new float[4], 2, 2)) {
            assertThrows(IllegalArgumentException.class, () -> dev.read(m, 0, 0, 1, 1, new float[1], 0, 1));
        }
    }

    /** The rows × cols sub-matrix at (row, col) of a (row stride ld), copied out. */
    static float[] view(float[] a, int ld, int row, int col, int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(a, (row + i) * ld + col, v, i * cols, cols);
        }
        return v;
    }
}
