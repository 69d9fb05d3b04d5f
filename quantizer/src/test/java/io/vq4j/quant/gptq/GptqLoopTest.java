package io.vq4j.quant.gptq;

import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.quant.Specs;
import io.vq4j.quant.core.ErrorFeedback;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.QuantSpec;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * gptq's row-parallel, vectorised in-block step and its lazy update on the resident W give the
 * bits of the scalar column loop with the update on copies ({@link GptqScalarReference}, the
 * code before), on random layers whose shapes stress the block logic: groups that cross blocks,
 * groups longer than a block, a short last block, a block wider than the layer, whole-row
 * groups, act-order, symmetric grids.
 */
class GptqLoopTest {
    private static final CpuBackend CPU = new CpuBackend();

    @Test
    void theVectorRowUpdateHasTheScalarBits() {
        SplittableRandom r = new SplittableRandom(5);
        for (int n = 0; n < 70; n++) {
            float[] w = new float[n + 9];
            double[] u = new double[n + 11];
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-6, 4)));
            }
            for (int i = 0; i < u.length; i++) {
                u[i] = r.nextGaussian() * Math.pow(10, r.nextInt(-6, 4));
            }
            float e = (float) (r.nextGaussian() * 1e-2);
            int wo = r.nextInt(9);
            int uo = r.nextInt(11);
            float[] a = w.clone();
            float[] b = w.clone();
            ErrorFeedback.subtractScaled(a, wo, e, u, uo, n);
            ErrorFeedback.subtractScaledScalar(b, wo, e, u, uo, n);
            assertArrayEquals(b, a, "n=" + n);
        }
    }

    @Test
    void gptvqsVectorRowUpdateHasTheScalarBits() {
        SplittableRandom r = new SplittableRandom(6);
        for (int d = 1; d <= 8; d++) {
            for (int n = 0; n < 40; n += 3) {
                int ldu = n + 5;
                double[] u = new double[d * ldu + 3];
                for (int i = 0; i < u.length; i++) {
                    u[i] = r.nextGaussian() * Math.pow(10, r.nextInt(-5, 3));
                }
                double[] e = new double[d];
                for (int t = 0; t < d; t++) {
                    e[t] = r.nextGaussian() * 1e-2;
                }
                float[] w = new float[n + 4];
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) r.nextGaussian();
                }
                float[] a = w.clone();
                float[] b = w.clone();
                ErrorFeedback.subtractCombination(a, 3, e, d, u, 2, ldu, n);
                ErrorFeedback.subtractCombinationScalar(b, 3, e, d, u, 2, ldu, n);
                assertArrayEquals(b, a, "d=" + d + " n=" + n);
            }
        }
    }

    @Test
    void theNewLoopHasTheBitsOfTheScalarLoop() {
        // rows, cols, bits, group, block, symmetric, act-order
        int[][] cases = {
                {37, 300, 4, 128, 128, 0, 0},   // short last block (44 columns), groups aligned to blocks
                {23, 130, 3, 48, 32, 0, 0},     // groups cross block ends and are longer than a block
                {9, 129, 4, 0, 128, 1, 0},      // one group per row, wider than a block
                {16, 64, 2, 16, 128, 0, 0},     // one block wider than the layer
                {40, 96, 4, 32, 20, 0, 1},      // act-order, blocks not a multiple of groups
                {1, 33, 8, 7, 5, 1, 1},         // one row
                {70, 160, 4, 128, 128, 1, 0},   // a group over the last, short block
        };
        for (int[] c : cases) {
            int rows = c[0], cols = c[1], bits = c[2], g = c[3], bs = c[4];
            boolean sym = c[5] == 1, act = c[6] == 1;
            String what = rows + "x" + cols + " bits=" + bits + " g=" + g + " B=" + bs + " sym=" + sym + " act=" + act;
            float[] w = GptqTest.weights(rows, cols, cols + rows);
            double[] h = GptqTest.hessian(cols, 3 * cols, cols);
            QuantSpec spec = Specs.of("gptq", "--bits", bits, "--group-size", g, "--block-size", bs, "--symmetric",
                    sym, "--act-order", act);
            float[] before = w.clone();
            PackedMatrix q = Gptq.METHOD.quantize(new LayerProblem("x", w, rows, cols, h, spec, CPU, 0));
            assertArrayEquals(before, w, "the caller's W is not modified");
            int[] perm = act ? ErrorFeedback.orderByDiagonal(h, cols) : null;
            float[] wp = w;
            double[] hp = h;
            if (act) {
                assertArrayEquals(perm, q.perm(), what);
                wp = new float[w.length];
                hp = new double[h.length];
                for (int i = 0; i < rows; i++) {
                    for (int j = 0; j < cols; j++) {
                        wp[i * cols + j] = w[i * cols + perm[j]];
                    }
                }
                for (int i = 0; i < cols; i++) {
                    for (int j = 0; j < cols; j++) {
                        hp[i * cols + j] = h[perm[i] * cols + perm[j]];
                    }
                }
            }
            GptqScalarReference.Result ref = GptqScalarReference.quantize(CPU, wp, hp, rows, cols, bits, g, sym, bs);
            Segment.Scalar seg = (Segment.Scalar) q.segments().getFirst();
            assertArrayEquals(ref.codes(), q.codes(seg), "codes, " + what);
            assertArrayEquals(ref.scales(), q.scales(seg), "scales, " + what);
            assertArrayEquals(ref.zeros(), q.zeros(seg), "zeros, " + what);
            int distinct = 0;
            for (int i = 1; i < ref.codes().length; i++) {
                distinct += ref.codes()[i] != ref.codes()[0] ? 1 : 0;
            }
            assertEquals(true, distinct > 0, "a non-trivial layer, " + what);
        }
    }
}
