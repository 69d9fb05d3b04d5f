package io.vq4j.kernels.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.kernels.cpu.CpuBackend;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The Hessian's XᵀX. Tolerance against an exact double reference (products exact, sums in double):
 * 1e-13 of Σ|x_ri·x_rj|; against the old path (a float gemm per batch, then added in double)
 * the float sum's bound, rows·2⁻²⁴·Σ|x_ri·x_rj| (measured: up to 1.1e-6·Σ|x_ri·x_rj| at 600 rows).
 */
class GramTest {
    private static float[] random(SplittableRandom g, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) g.nextGaussian();
        }
        return a;
    }

    @Test
    void smallIntegersAreExactAndTheUpperTriangleUntouched() {
        int dim = 3;
        float[] x = {1, 2, 3, -1, 0, 4}; // rows (1, 2, 3), (−1, 0, 4)
        double[] h = new double[9];
        h[1] = 42; // strict upper: stays
        Gram.accumulate(x, 2, dim, h);
        double[] want = {2, 42, 0, 2, 4, 0, -1, 6, 25};
        for (int e = 0; e < 9; e++) {
            assertEquals(want[e], h[e], 0.0, "element " + e);
        }
    }

    @Test
    void matchesTheDoubleReferenceAndTheOldFloatPathOnAwkwardShapes() {
        SplittableRandom g = new SplittableRandom(3);
        for (int dim : new int[] {1, 5, 63, 64, 65, 130}) {
            for (int rows : new int[] {1, 255, 256, 257, 600}) {
                float[] x = random(g, rows * dim);
                double[] h = new double[dim * dim];
                Gram.accumulate(x, rows, dim, h);
                Gram.accumulate(x, 0, dim, h); // no rows: nothing
                float[] old = new float[dim * dim];
                new CpuBackend().gemm(true, false, dim, dim, rows, 1f, x, x, 0f, old);
                for (int i = 0; i < dim; i++) {
                    for (int j = 0; j < dim; j++) {
                        double exact = 0, abs = 0;
                        for (int r = 0; r < rows; r++) {
                            double v = (double) x[r * dim + i] * x[r * dim + j];
                            exact += v;
                            abs += Math.abs(v);
                        }
                        String at = "dim " + dim + " rows " + rows + " (" + i + ", " + j + ")";
                        if (j > i) {
                            assertEquals(0.0, h[i * dim + j], 0.0, at);
                            continue;
                        }
                        assertEquals(exact, h[i * dim + j], 1e-13 * abs, at);
                        // the float path's own bound: rows · 2⁻²⁴ · Σ|x_ri·x_rj| (Higham's γ_rows)
                        assertEquals(old[i * dim + j], h[i * dim + j], rows * 0x1p-24 * abs, at);
                    }
                }
            }
        }
    }

    @Test
    void batchesAddUpInArrivalOrder() {
        SplittableRandom g = new SplittableRandom(4);
        int dim = 70;
        float[] x = random(g, 300 * dim);
        double[] once = new double[dim * dim];
        Gram.accumulate(x, 300, dim, once);
        // 300 rows in one call are the chunks 0..255 and 256..299: two calls with the same cut give the same bits
        double[] twice = new double[dim * dim];
        float[] first = new float[256 * dim];
        float[] second = new float[44 * dim];
        System.arraycopy(x, 0, first, 0, first.length);
        System.arraycopy(x, first.length, second, 0, second.length);
        Gram.accumulate(first, 256, dim, twice);
        Gram.accumulate(second, 44, dim, twice);
        for (int e = 0; e < once.length; e++) {
            assertEquals(once[e], twice[e], 0.0);
        }
        assertTrue(once[0] > 0);
    }

    /**
     * The Hessian made in the sums' array (tiles in parallel) is the plain loop's, bit for bit: the
     * lower triangle scaled by 2/count and mirrored over whatever the upper triangle held, a dead
     * column's 0 made 1, the damping by the mean diagonal, and the float copy.
     */
    @Test
    void theHessianMadeInPlaceIsThePlainLoopsBitForBit() {
        SplittableRandom g = new SplittableRandom(6);
        for (int dim : new int[] {1, 2, 63, 64, 65, 130, 200}) {
            int rows = 3 + dim / 2;
            float[] x = random(g, rows * dim);
            for (int r = 0; r < rows; r++) {
                x[r * dim + dim / 2] = 0; // a column that never sees an input
            }
            double[] sums = new double[dim * dim];
            Gram.accumulate(x, rows, dim, sums);
            for (int i = 0; i < dim; i++) {
                for (int j = i + 1; j < dim; j++) {
                    sums[i * dim + j] = g.nextDouble(); // the strict upper triangle is not the sums' part
                }
            }
            long count = rows + 7;
            double percdamp = 0.01;
            double[] want = new double[dim * dim]; // the plain loop this replaced (HessianAccumulator's)
            double scale = 2.0 / count;
            for (int i = 0; i < dim; i++) {
                for (int j = 0; j <= i; j++) {
                    double v = sums[i * dim + j] * scale;
                    want[i * dim + j] = v;
                    want[j * dim + i] = v;
                }
            }
            double mean = 0;
            for (int i = 0; i < dim; i++) {
                if (want[i * dim + i] == 0) {
                    want[i * dim + i] = 1;
                }
                mean += want[i * dim + i];
            }
            mean /= dim;
            for (int i = 0; i < dim; i++) {
                want[i * dim + i] += percdamp * mean;
            }
            float[] hf = new float[dim * dim];
            Gram.hessian(sums, dim, count, percdamp, hf);
            for (int e = 0; e < want.length; e++) {
                assertEquals(Double.doubleToRawLongBits(want[e]), Double.doubleToRawLongBits(sums[e]),
                        "dim " + dim + ", element " + e);
                assertEquals(Float.floatToRawIntBits((float) want[e]), Float.floatToRawIntBits(hf[e]),
                        "dim " + dim + ", float element " + e);
            }
            assertEquals(1 + percdamp * mean, sums[(dim / 2) * dim + dim / 2], 0.0, "the dead column's diagonal");
        }
    }
}
