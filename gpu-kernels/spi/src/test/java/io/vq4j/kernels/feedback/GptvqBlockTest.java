package io.vq4j.kernels.feedback;

import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The CPU backend's gptvqBlock (GptvqBlock, vectorised and row-parallel) against the SPI's
 * contract written out as one plain loop per row: a scan of the centroids from 0 with strict &lt;,
 * the distance with Math.fma, the substitution and the feedback in double — bit for bit, on the
 * shapes and adversarial codebooks of {@link VectorFeedbackParityTest}.
 */
class GptvqBlockTest {
    private static final CpuBackend CPU = new CpuBackend();

    /** The contract, for one block that is the whole layer: indices (rows × cols/d) and errors (rows × cols). */
    private static void reference(float[] w0, int rows, int cols, double[] u, double[] dw, int d, float[] books, int k,
                                  int gRows, float[] scales, int[] idx, float[] err) {
        float[] w = w0.clone();
        int per = cols / d;
        for (int r = 0; r < rows; r++) {
            int off = (r / gRows) * k * d;
            for (int v = 0; v < per; v++) {
                int j = v * d;
                float sc = scales == null ? 1f : scales[r * per + v];
                float best = Float.POSITIVE_INFINITY;
                int bi = 0;
                for (int c = 0; c < k; c++) {
                    float acc = 0f;
                    for (int t = 0; t < d; t++) {
                        float x = w[r * cols + j + t] / sc;
                        float wt = (float) (dw[j + t] * sc * sc);
                        float diff = books[off + c * d + t] - x;
                        acc = Math.fma(wt * diff, diff, acc);
                    }
                    if (acc < best) {
                        best = acc;
                        bi = c;
                    }
                }
                idx[r * per + v] = bi;
                double[] e = new double[d];
                for (int t = 0; t < d; t++) {
                    float q = books[off + bi * d + t] * sc;
                    double s = w[r * cols + j + t] - q;
                    w[r * cols + j + t] = q;
                    for (int a = 0; a < t; a++) {
                        s -= e[a] * u[(j + a) * cols + j + t];
                    }
                    e[t] = s / u[(j + t) * cols + j + t];
                    err[r * cols + j + t] = (float) e[t];
                }
                for (int l = j + d; l < cols; l++) {
                    double acc = 0;
                    for (int t = 0; t < d; t++) {
                        acc += e[t] * u[(j + t) * cols + l];
                    }
                    w[r * cols + l] -= (float) acc;
                }
            }
        }
    }

    @Test
    void theCpuStepIsTheContractsLoop() {
        // rows, cols, d, k, row blocks, scales, weight kind
        int[][] cases = {{37, 96, 2, 256, 1, 0, 0}, {23, 130, 2, 100, 1, 1, 0}, {64, 64, 4, 16, 4, 1, 1},
                {9, 48, 1, 7, 3, 0, 0}, {70, 48, 3, 65, 2, 1, 3}, {5, 64, 8, 300, 1, 1, 0}, {18, 64, 16, 33, 6, 1, 2}};
        for (int[] c : cases) {
            int rows = c[0], cols = c[1], d = c[2], k = c[3], rowBlocks = c[4];
            float[] w = FeedbackParityTest.weights(rows, cols, c[6], rows * 17L + cols);
            double[] u = FeedbackParityTest.factor(cols, cols + 3);
            double[] dw = VectorFeedbackParityTest.weightsOf(u, cols);
            float[] books = VectorFeedbackParityTest.books(w, rows, cols, d, k, rowBlocks, cols);
            float[] sc = c[5] == 1 ? VectorFeedbackParityTest.scales(rows, cols, d, rows) : null;
            int[] idx = new int[rows * (cols / d)], want = new int[rows * (cols / d)];
            float[] err = new float[rows * cols], wantErr = new float[rows * cols];
            try (ResidentMatrix m = CPU.resident(w.clone(), rows, cols);
                 ResidentMatrix e = CPU.resident(err, rows, cols)) {
                CPU.gptvqBlock(m, 0, cols, u, dw, d, books, k, rows / rowBlocks, sc, idx, e);
            }
            reference(w, rows, cols, u, dw, d, books, k, rows / rowBlocks, sc, want, wantErr);
            String what = rows + "x" + cols + " d=" + d + " k=" + k + " codebooks=" + rowBlocks;
            assertArrayEquals(want, idx, "indices, " + what);
            assertArrayEquals(wantErr, err, "errors, " + what);
        }
    }

    @Test
    void slicesThatDoNotFitAreRefused() {
        float[] w = new float[4 * 12];
        double[] u = FeedbackParityTest.factor(12, 1);
        try (ResidentMatrix m = CPU.resident(w, 4, 12); ResidentMatrix e = CPU.resident(new float[48], 4, 12)) {
            assertThrows(IllegalArgumentException.class, () -> CPU.gptvqBlock(m, 1, 9, u, new double[12], 2,
                    new float[8], 4, 4, null, new int[24], e), "a block not at a slice's start");
            assertThrows(IllegalArgumentException.class, () -> CPU.gptvqBlock(m, 0, 12, u, new double[12], 2,
                    new float[8], 4, 3, null, new int[24], e), "codebooks of 3 rows for 4");
            assertThrows(IllegalArgumentException.class, () -> CPU.gptvqBlock(m, 0, 12, u, new double[12], 17,
                    new float[68], 4, 4, null, new int[24], e), "d past 16");
        }
    }
}
