package io.vq4j.quant.gptq;

import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.quant.Specs;
import io.vq4j.quant.core.HessianAccumulator;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.quant.rtn.RtnQuantizer;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class GptqTest {
    static final CpuBackend CPU = new CpuBackend();

    static Segment.Scalar scalar(PackedMatrix q) {
        return (Segment.Scalar) q.segments().getFirst();
    }

    static int[] codes(PackedMatrix q) {
        return q.codes(scalar(q));
    }

    static float[] scales(PackedMatrix q) {
        return q.scales(scalar(q));
    }

    /** tr((W−Q) H (W−Q)ᵀ) in double. */
    public static double error(float[] w, float[] q, double[] h, int rows, int cols) {
        double s = 0;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < cols; i++) {
                for (int j = 0; j < cols; j++) {
                    s += (w[r * cols + i] - q[r * cols + i]) * h[i * cols + j] * (w[r * cols + j] - q[r * cols + j]);
                }
            }
        }
        return s;
    }

    /**
     * One row, two columns, 2-bit symmetric grid over the row: max|w| = 1.5, so scale = 2·1.5/3
     * = 1 and zero = 2, the grid is {−2, −1, 0, 1}. H = [[1, −0.9], [−0.9, 1]], so
     * H⁻¹ = [[1, 0.9], [0.9, 1]] / 0.19 and its upper Cholesky factor has U₀₀ = √(1/0.19),
     * U₀₁ = 0.9·U₀₀, U₁₁ = 1.
     * Column 0: 0.4 rounds to 0 (code 2); e = 0.4 / U₀₀; column 1 becomes
     * −1.5 − e·U₀₁ = −1.5 − 0.36 = −1.86, which rounds to −2 (code 0).
     * Round-to-nearest would give −1.5 → −1 (Java rounds halves up; code 1).
     * Errors: GPTQ D = (0.4, 0.5): 0.16 − 2·0.9·0.2 + 0.25 = 0.05; RTN D = (0.4, −0.5): 0.77.
     */
    @Test
    void twoColumnsByHand() {
        float[] w = {0.4f, -1.5f};
        double[] h = {1, -0.9, -0.9, 1};
        QuantSpec spec = Specs.of("gptq", "--bits", 2, "--group-size", 0, "--symmetric", true);
        PackedMatrix q = Gptq.METHOD.quantize(new LayerProblem("x", w, 1, 2, h, spec, CPU, 0));
        assertArrayEquals(new int[]{2, 0}, codes(q));
        assertArrayEquals(new float[]{1f}, scales(q));
        assertArrayEquals(new float[]{0f, -2f}, q.dequantize());
        assertEquals(0.05, error(w, q.dequantize(), h, 1, 2), 1e-6);
        QuantSpec rtnSpec = Specs.of("rtn", "--bits", 2, "--group-size", 0, "--symmetric", true);
        PackedMatrix rtn = RtnQuantizer.METHOD.quantize(new LayerProblem("x", w, 1, 2, null, rtnSpec, CPU, 0));
        assertArrayEquals(new int[]{2, 1}, codes(rtn));
        assertEquals(0.77, error(w, rtn.dequantize(), h, 1, 2), 1e-6);
    }

    /** W (rows × cols, heavy-ish tails) and H = 2/n XᵀX + 1% damping for correlated inputs X. */
    public static double[] hessian(int cols, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n * cols];
        for (int i = 0; i < n; i++) {
            double common = r.nextGaussian();
            for (int j = 0; j < cols; j++) {
                double scale = 0.2 + 2.0 * ((j * 37) % cols) / cols; // uneven channels
                x[i * cols + j] = (float) (scale * (0.7 * common + r.nextGaussian()));
            }
        }
        HessianAccumulator acc = new HessianAccumulator(CPU, cols);
        acc.add(x, n);
        return acc.hessian(0.01);
    }

    public static float[] weights(int rows, int cols, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            double g = r.nextGaussian();
            w[i] = (float) (g * (1 + 0.5 * g * g) * 0.05);
        }
        return w;
    }

    @Test
    void errorFeedbackBeatsRoundToNearestOnCorrelatedInputs() {
        int rows = 64;
        int cols = 128;
        float[] w = weights(rows, cols, 1);
        double[] h = hessian(cols, 512, 2);
        for (int bits : new int[]{2, 3, 4}) {
            QuantSpec spec = Specs.of("gptq", "--bits", bits, "--group-size", 32, "--block-size", 32);
            LayerProblem p = new LayerProblem("x", w, rows, cols, h, spec, CPU, 0);
            double e = error(w, Gptq.METHOD.quantize(p).dequantize(), h, rows, cols);
            double eAct = error(w, Gptq.METHOD.quantize(new LayerProblem("x", w, rows, cols, h,
                    Specs.with(spec, "--act-order", true), CPU, 0)).dequantize(), h, rows, cols);
            QuantSpec rtnSpec = Specs.of("rtn", "--bits", bits, "--group-size", 32);
            double rtn = error(w, RtnQuantizer.METHOD.quantize(new LayerProblem("x", w, rows, cols, h, rtnSpec, CPU, 0))
                    .dequantize(), h, rows, cols);
            System.out.printf("gptq %d bits: H-error rtn %.5f gptq %.5f gptq+act-order %.5f%n", bits, rtn, e, eAct);
            assertTrue(e < rtn, bits + " bits: gptq " + e + " vs rtn " + rtn);
            assertTrue(eAct < rtn, bits + " bits: gptq act-order " + eAct + " vs rtn " + rtn);
        }
    }

    @Test
    void actOrderStoresItsPermutationAndBlocksDoNotChangeTheResult() {
        int rows = 16;
        int cols = 48;
        float[] w = weights(rows, cols, 3);
        double[] h = hessian(cols, 200, 4);
        QuantSpec spec = Specs.of("gptq", "--bits", 3, "--group-size", 16, "--act-order", true);
        PackedMatrix a = Gptq.METHOD.quantize(new LayerProblem("x", w, rows, cols, h,
                Specs.with(spec, "--block-size", 48), CPU, 0));
        assertNotNull(a.perm());
        for (int c = 1; c < cols; c++) {
            assertTrue(h[a.perm()[c - 1] * (cols + 1)] >= h[a.perm()[c] * (cols + 1)], "decreasing diag H");
        }
        // lazy blocks are an implementation detail: the same codes with B = 1, 5, 48
        for (int b : new int[]{1, 5}) {
            PackedMatrix q = Gptq.METHOD.quantize(new LayerProblem("x", w, rows, cols, h,
                    Specs.with(spec, "--block-size", b), CPU, 0));
            int[] ca = codes(a);
            int[] cq = codes(q);
            int diff = 0;
            for (int i = 0; i < ca.length; i++) {
                diff += ca[i] != cq[i] ? 1 : 0;
            }
            // float rounding of the update order may flip a code sitting on a rounding boundary
            assertTrue(diff <= ca.length / 100, "B=" + b + ": " + diff + " codes differ");
        }
        // same inputs, same bits
        PackedMatrix again = Gptq.METHOD.quantize(new LayerProblem("x", w, rows, cols, h, Specs.with(spec,
                "--block-size", 48), CPU, 9));
        assertArrayEquals(a.dequantize(), again.dequantize());
    }

    @Test
    void badOptions() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Gptq.METHOD.validate(Specs.of("gptq", "--bits", 9), 4, 4));
        assertEquals("--bits must be 2..8 for gptq, got 9", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Gptq.METHOD.validate(Specs.of("gptq", "--block-size", 0), 4, 4));
        assertEquals("--block-size must be at least 1, got 0", e.getMessage());
    }
}
