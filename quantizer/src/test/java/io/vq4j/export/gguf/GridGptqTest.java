package io.vq4j.export.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.io.gguf.GgmlType;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.quant.gptq.GptqOptions;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.QuantSpec;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * GPTQ onto the GGUF grids ({@link GridGptq}): without feedback it is the reference rounding;
 * with a real (correlated) Hessian it lowers the Hessian-weighted error below rounding on the
 * same grid; the bytes it writes decode to the weights it hands the calibration; and rows that
 * are not whole blocks fall back as the export does.
 */
class GridGptqTest {
    private static final List<GgmlType> TYPES = List.of(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0,
            GgmlType.Q4_K, GgmlType.Q6_K);
    private static final QuantSpec SPEC = new QuantSpec(new GptqOptions(4, 32, false, false, 128), 0.01, "none");

    static float[] weights(int rows, int cols, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (rnd.nextGaussian() * 0.05 + (i % cols == 3 ? 0.3 : 0)); // a heavier column
        }
        return w;
    }

    /** H = 2/n XᵀX of n inputs whose columns are correlated (a shared factor), damped by 1% of its mean diagonal. */
    static double[] hessian(int cols, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = 4 * cols;
        double[] x = new double[n * cols];
        for (int s = 0; s < n; s++) {
            double common = rnd.nextGaussian();
            for (int c = 0; c < cols; c++) {
                x[s * cols + c] = 0.8 * common + 0.6 * rnd.nextGaussian() * (1 + c % 5);
            }
        }
        double[] h = new double[cols * cols];
        for (int s = 0; s < n; s++) {
            for (int i = 0; i < cols; i++) {
                for (int j = 0; j < cols; j++) {
                    h[i * cols + j] += 2.0 / n * x[s * cols + i] * x[s * cols + j];
                }
            }
        }
        double mean = 0;
        for (int i = 0; i < cols; i++) {
            mean += h[i * cols + i] / cols;
        }
        for (int i = 0; i < cols; i++) {
            h[i * cols + i] += 0.01 * mean;
        }
        return h;
    }

    static double hError(float[] w, float[] q, double[] h, int rows, int cols) {
        double e = 0;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < cols; i++) {
                double di = w[r * cols + i] - q[r * cols + i];
                for (int j = 0; j < cols; j++) {
                    e += di * h[i * cols + j] * (w[r * cols + j] - q[r * cols + j]);
                }
            }
        }
        return e;
    }

    static LayerProblem problem(float[] w, int rows, int cols, double[] h) {
        return new LayerProblem("layer", w, rows, cols, h, SPEC, new CpuBackend(), 1);
    }

    @Test
    void withoutFeedbackItIsTheReferenceRounding() {
        int rows = 6;
        int cols = 512;
        float[] w = weights(rows, cols, 1);
        double[] identity = new double[cols * cols];
        for (int i = 0; i < cols; i++) {
            identity[i * cols + i] = 1;
        }
        for (GgmlType t : TYPES) {
            GridGptq.Encoded g = GridGptq.quantize(problem(w, rows, cols, identity), t, 128);
            GridGptq.Encoded r = GridGptq.round(w, rows, cols, t);
            assertEquals(t, g.type());
            assertArrayEquals(r.dequantized(), g.dequantized(), 0f, t.ggmlName());
            assertArrayEquals(r.data(), g.data(), t.ggmlName());
        }
    }

    @Test
    void errorFeedbackBeatsRoundingOnTheSameGridAndItsBytesDecodeToItsWeights() {
        int rows = 8;
        int cols = 256;
        float[] w = weights(rows, cols, 2);
        double[] h = hessian(cols, 3);
        for (GgmlType t : TYPES) {
            for (int lazy : new int[] {1, 128}) {
                GridGptq.Encoded g = GridGptq.quantize(problem(w, rows, cols, h), t, lazy);
                GridGptq.Encoded r = GridGptq.round(w, rows, cols, t);
                assertArrayEquals(GridGptq.decode(g.data(), rows, cols, t), g.dequantized(), 0f, t.ggmlName());
                double eg = hError(w, g.dequantized(), h, rows, cols);
                double er = hError(w, r.dequantized(), h, rows, cols);
                System.err.printf(Locale.ROOT, "GridGptqTest: %s, B %d: H-error gptq %.4g, rtn %.4g (%.2fx)%n",
                        t.ggmlName(), lazy, eg, er, er / eg);
                assertTrue(eg < 0.9 * er, t.ggmlName() + ": gptq " + eg + " vs rtn " + er);
            }
        }
    }

    /** B is rounded up to whole blocks, so every block's grid is fitted from fully updated weights. */
    @Test
    void theLazyWidthIsRoundedToWholeBlocks() {
        assertEquals(128, GridGptq.lazyWidth(128, GgmlType.Q4_0));
        assertEquals(32, GridGptq.lazyWidth(1, GgmlType.Q4_0));
        assertEquals(256, GridGptq.lazyWidth(128, GgmlType.Q4_K));
        assertEquals(512, GridGptq.lazyWidth(300, GgmlType.Q4_K));
    }

    @Test
    void rowsThatAreNotWholeBlocksFallBackAsTheExportDoes() {
        assertEquals(GgmlType.Q5_0, GridGptq.stored(GgmlType.Q4_K, 64));
        assertEquals(GgmlType.F16, GridGptq.stored(GgmlType.Q4_K, 172));
        assertEquals(GgmlType.F16, GridGptq.stored(GgmlType.Q4_0, 172));
        assertEquals(GgmlType.Q4_K, GridGptq.stored(GgmlType.Q4_K, 512));
        int rows = 3;
        int cols = 172;
        float[] w = weights(rows, cols, 4);
        GridGptq.Encoded g = GridGptq.quantize(problem(w, rows, cols, hessian(cols, 5)), GgmlType.Q4_K, 128);
        assertEquals(GgmlType.F16, g.type());
        for (int i = 0; i < w.length; i++) {
            assertEquals(Float.float16ToFloat(Float.floatToFloat16(w[i])), g.dequantized()[i]);
        }
    }
}
