package io.vq4j.quant.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.kernels.cpu.CpuBackend;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class RtnAndHessianTest {
    @Test
    void asymmetricTwoBitGroupByHand() {
        // group [-1, 0, 0.5, 2]: scale (2 - -1)/3 = 1, zero 1 → codes round(w)+1 = 0, 1, 2 (0.5 rounds up), 3
        Rtn.Quantized q = Rtn.quantize(new float[] {-1, 0, 0.5f, 2}, 1, 4, 2, 4, false);
        assertArrayEquals(new int[] {0, 1, 2, 3}, q.codes());
        assertEquals(1f, q.scales()[0]);
        assertEquals(1, q.zeros()[0]);
        assertArrayEquals(new float[] {-1, 0, 1, 2}, q.dequantize());
    }

    @Test
    void symmetricGridIsCentred() {
        // max|w| = 3, 3 bits: scale 6/7, zero 4
        Rtn.Quantized q = Rtn.quantize(new float[] {-3, 3, 0, 1}, 1, 4, 3, 0, true);
        assertEquals(4, q.zeros()[0]);
        // the smallest fp16 at or above 6/7 (0.857142…): 0.8569336 is below, 0.8574219 the next step
        assertEquals(0.8574219f, q.scales()[0]);
        assertTrue(Float.floatToFloat16(0.8574219f) - Float.floatToFloat16(0.8569336f) == 1);
        assertEquals(0f, q.dequantize()[2]);
    }

    @Test
    void errorShrinksWithBitsAndIsHalfAStepInsideTheGrid() {
        SplittableRandom r = new SplittableRandom(2);
        int rows = 16, cols = 256;
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        double previous = Double.POSITIVE_INFINITY;
        for (int bits = 2; bits <= 8; bits++) {
            Rtn.Quantized q = Rtn.quantize(w, rows, cols, bits, 64, false);
            float[] back = q.dequantize();
            double mse = 0;
            for (int i = 0; i < w.length; i++) {
                int g = (i / cols) * q.groups() + (i % cols) / 64;
                float s = q.scales()[g];
                float lo = s * (0 - q.zeros()[g]);
                float hi = s * ((1 << bits) - 1 - q.zeros()[g]);
                if (w[i] >= lo && w[i] <= hi) {
                    assertTrue(Math.abs(back[i] - w[i]) <= s * 0.5 * (1 + 1e-6), "half a step inside the grid");
                } else { // the integer zero-point can leave an extreme just outside: it clips to the end
                    assertEquals(w[i] < lo ? lo : hi, back[i]);
                    assertTrue(Math.abs(back[i] - w[i]) <= s, "less than one step beyond the grid");
                }
                mse += (back[i] - w[i]) * (back[i] - w[i]);
            }
            assertTrue(mse < previous, bits + " bits");
            previous = mse;
        }
    }

    @Test
    void hessianIsTwiceTheMeanOuterProductPlusDamping() {
        HessianAccumulator h = new HessianAccumulator(new CpuBackend(), 2);
        h.add(new float[] {1, 2}, 1);
        h.add(new float[] {3, 0, 0, 0}, 2); // inputs (3, 0) and (0, 0)
        // Σ x xᵀ = [[1+9, 2], [2, 4]]; 2/3 of it; mean diag = (20/3 + 8/3)/2 = 14/3
        double[] got = h.hessian(0.1);
        double[] expected = {20.0 / 3 + 0.1 * 14 / 3, 4.0 / 3, 4.0 / 3, 8.0 / 3 + 0.1 * 14 / 3};
        for (int i = 0; i < 4; i++) {
            assertEquals(expected[i], got[i], 1e-9);
        }
        assertEquals(3, h.count());
        // H was made in the sums' own array: the accumulator is spent
        assertThrows(IllegalStateException.class, () -> h.hessian(0.1));
        assertThrows(IllegalStateException.class, () -> h.add(new float[] {1, 1}, 1));
    }

    @Test
    void theFloatCopyIsTheDoubleHessianRounded() {
        HessianAccumulator h = new HessianAccumulator(new CpuBackend(), 3);
        h.add(new float[] {1, 2, 3, 0.1f, -4, 5}, 2);
        float[] hf = new float[9];
        double[] got = h.hessian(0.01, hf);
        for (int i = 0; i < 9; i++) {
            assertEquals((float) got[i], hf[i], 0f);
        }
        assertEquals(got[1], got[3], 0.0, "symmetric");
    }

    @Test
    void deadInputColumnsGetAUnitDiagonal() {
        HessianAccumulator h = new HessianAccumulator(new CpuBackend(), 2);
        h.add(new float[] {2, 0}, 1);
        double[] got = h.hessian(0);
        assertEquals(8, got[0], 1e-12);
        assertEquals(1, got[3], 1e-12);
    }
}
