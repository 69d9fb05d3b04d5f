package io.vq4j.quant.vptq;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.quant.core.Linalg;
import java.util.List;
import org.junit.jupiter.api.Test;

class VptqPassTest {
    private final CpuBackend cpu = new CpuBackend();

    // 2 rows × 2 columns, d = 2: each column is one vector. Codebook {(0,0), (1,1)}.
    // H = [[4, 2], [2, 3]] → U00 = √(3/8), U01 = −(1/4)/√(3/8) (LinalgTest), U01/U00 = −2/3.
    // W = [[1, 0.5], [0.1, 0.8]]: column 0 = (1, 0.1), column 1 = (0.5, 0.8).
    private static final float[] WT = {1f, 0.1f, 0.5f, 0.8f}; // Wᵀ
    private static final double[] H = {4, 2, 2, 3};
    private static final List<VptqPass.Segment> ONE = List.of(
            new VptqPass.Segment(0, 2, List.of(new float[] {0, 0, 1, 1}), new int[] {2}));

    @Test
    void oneColumnFeedbackByHand() {
        // column 0: ‖(1, 0.1) − (1,1)‖² = 0.81 < ‖(1, 0.1)‖² = 1.01 → centroid 1, error w − q = (0, −0.9).
        // feedback: w1 −= (err / U00) · U01 = err · (−2/3) → w1 += (2/3)(0, −0.9) = (0.5, 0.8 − 0.6) = (0.5, 0.2).
        // column 1: ‖(0.5, 0.2)‖² = 0.29 < ‖(0.5, 0.2) − (1,1)‖² = 0.89 → centroid 0.
        // Without feedback column 1 (0.5, 0.8) would take centroid 1 (0.29 < 0.89 the other way round).
        // Hessian-weighted error tr(E H Eᵀ), rows of E = W − Q:
        //   feedback:    (0, 0.5), (−0.9, 0.8): 3·0.25 + (4·0.81 − 4·0.72 + 3·0.64) = 0.75 + 2.28 = 3.03
        //   no feedback: (0, −0.5), (−0.9, −0.2): 0.75 + (3.24 + 0.72 + 0.12) = 4.83
        for (int block : new int[] {1, 2, 128}) { // gemm path, in-block path, one block
            VptqPass.Result r = VptqPass.run(cpu, WT, 2, 2, 2, Linalg.inverseCholeskyUpper(H, 2), block, ONE);
            assertArrayEquals(new int[] {1, 0}, r.indices()[0][0], "block " + block);
            assertArrayEquals(new float[] {1, 1, 0, 0}, r.qt());
            assertArrayEquals(new float[] {0f, 0.1f - 1f, 0.5f, 0.2f}, r.residual(), 1e-6f);
            assertEquals(3.03, VptqTest.error(new float[] {1, 0.5f, 0.1f, 0.8f}, transpose(r.qt(), 2, 2), H, 2, 2),
                    1e-6);
        }
        // U with the off-diagonal removed: no feedback, column 1 goes to centroid 1
        double[] diagonal = Linalg.inverseCholeskyUpper(H, 2);
        diagonal[1] = 0;
        VptqPass.Result plain = VptqPass.run(cpu, WT, 2, 2, 2, diagonal, 128, ONE);
        assertArrayEquals(new int[] {1, 1}, plain.indices()[0][0]);
        assertEquals(4.83, VptqTest.error(new float[] {1, 0.5f, 0.1f, 0.8f}, transpose(plain.qt(), 2, 2), H, 2, 2),
                1e-6);
    }

    @Test
    void residualStageQuantizesWhatTheFirstLeft() {
        // One column (4, 0) as two vectors of d = 1... here d = 1, rows = 2, cols = 1: vectors 4 and 0.
        // Stage 1 codebook {0, 3}: 4 → 3 (index 1), 0 → 0 (index 0); left 1 and 0.
        // Stage 2 codebook {0, 0.75}: 1 → 0.75 (index 1), 0 → 0 (index 0). Sum: 3.75 and 0.
        List<VptqPass.Segment> two = List.of(new VptqPass.Segment(0, 1,
                List.of(new float[] {0, 3}, new float[] {0, 0.75f}), new int[] {2, 2}));
        VptqPass.Result r = VptqPass.run(cpu, new float[] {4, 0}, 2, 1, 1, new double[] {1}, 128, two);
        assertArrayEquals(new int[] {1, 0}, r.indices()[0][0]);
        assertArrayEquals(new int[] {1, 0}, r.indices()[0][1]);
        assertArrayEquals(new float[] {3.75f, 0}, r.qt());
        assertArrayEquals(new float[] {0.25f, 0}, r.residual());
    }

    static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = a[r * cols + c];
            }
        }
        return t;
    }
}
