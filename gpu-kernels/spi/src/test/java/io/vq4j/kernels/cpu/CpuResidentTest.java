package io.vq4j.kernels.cpu;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.HostMatrix;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.ResidentParityTest;
import io.vq4j.kernels.packed.PackedMatrix;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU backend's resident matrices: the host array itself, gemm on its views with the bits of
 * the array gemm; and the SPI's default (host copies, for a backend with no device buffers) with
 * the same bits.
 */
class CpuResidentTest extends ResidentParityTest {
    @Override
    protected Backend open() {
        return new CpuBackend();
    }

    @Override
    protected float tolerance(float ref) {
        return 0f;
    }

    @Test
    void theResidentMatrixIsTheHostArrayAndGemmWritesIntoIt() {
        float[] c = {1f, 1f, 1f, 1f};
        try (ResidentMatrix a = dev.resident(new float[]{1f, 2f, 3f, 4f}, 2, 2);
             ResidentMatrix b = dev.resident(new float[]{1f, 0f, 0f, 1f}, 2, 2);
             ResidentMatrix dc = dev.resident(c, 2, 2)) {
            assertSame(c, ((HostMatrix) dc).values());
            dev.gemm(false, false, 2, 2, 2, 1f, a, 0, 0, b, 0, 0, 1f, dc, 0, 0);
        }
        assertArrayEquals(new float[]{2f, 3f, 4f, 5f}, c);
    }

    /** The CPU's residentWeights: the array itself, packed once beside it, and never written. */
    @Test
    void residentWeightsAreTheArrayPackedOnceAndWritesToThemAreRefused() {
        float[] w = {1f, 2f, 3f, 4f, 5f, 6f};
        try (ResidentMatrix dw = dev.residentWeights(w, 2, 3); ResidentMatrix x = dev.resident(new float[6], 2, 3)) {
            HostMatrix h = (HostMatrix) dw;
            assertSame(w, h.values());
            assertTrue(h.readOnly());
            assertArrayEquals(w, ((PackedMatmul) h.prepared()).unpack(), "the packing is of these weights");
            assertThrows(IllegalArgumentException.class, () -> dev.write(dw, 0, 0, 1, 1, new float[1], 0, 1));
            assertThrows(IllegalArgumentException.class,
                    () -> dev.gemm(false, true, 2, 2, 3, 1f, x, 0, 0, x, 0, 0, 0f, dw, 0, 0), "gemm into the weights");
            HostForwardOps ops = new HostForwardOps(dev);
            assertThrows(IllegalArgumentException.class, () -> ops.add(dw, x, 2), "a forward op into the weights");
            assertThrows(IllegalArgumentException.class, () -> ops.siluMul(dw, x, 2));
            ops.add(x, dw, 2); // read as an input: fine
            assertArrayEquals(w, h.values(), "the weights did not change");
        }
    }

    @Test
    void aClosedMatrixIsRefused() {
        ResidentMatrix m = dev.resident(new float[4], 2, 2);
        m.close();
        assertThrows(IllegalStateException.class, () -> dev.read(m, 0, 0, 1, 1, new float[1], 0, 1));
    }

    /** A backend that has only the array operations: the SPI's defaults serve its resident matrices. */
    private static final class ArraysOnly implements Backend {
        private final CpuBackend cpu = new CpuBackend();

        @Override
        public String name() {
            return "arrays only";
        }

        @Override
        public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, float[] b,
                         float beta, float[] c) {
            cpu.gemm(transA, transB, m, n, k, alpha, a, b, beta, c);
        }

        @Override
        public void assignNearest(float[] vectors, float[] weights, int n, int d, float[] codebook, int k,
                                  int[] index, float[] distance) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void accumulateCentroids(float[] vectors, float[] weights, int n, int d, int[] index, int k,
                                        double[] sums, double[] weightSums) {
            throw new UnsupportedOperationException();
        }

        @Override
        public PackedWeights upload(PackedMatrix matrix) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void dequant(PackedWeights weights, float[] out) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void dequantMatmul(PackedWeights weights, float[] x, int n, float[] y) {
            throw new UnsupportedOperationException();
        }
    }

    @Test
    void theDefaultsOnHostCopiesGiveTheSameBits() {
        SplittableRandom r = new SplittableRandom(9);
        Backend plain = new ArraysOnly();
        int rows = 33, cols = 70;
        float[] w = gaussian(r, rows * cols);
        float[] e = gaussian(r, rows * 8);
        float[] u = gaussian(r, 8 * cols);
        float[] w1 = w.clone();
        float[] w2 = w.clone();
        for (Backend b : new Backend[]{dev, plain}) {
            float[] target = b == dev ? w1 : w2;
            try (ResidentMatrix dw = b.resident(target, rows, cols); ResidentMatrix de = b.resident(e, rows, 8);
                 ResidentMatrix du = b.resident(u, 8, cols)) {
                b.gemm(false, false, rows, cols - 20, 8, -1f, de, 0, 0, du, 0, 20, 1f, dw, 0, 20);
                b.gemm(true, true, 5, 6, 7, 0.5f, dw, 1, 2, du, 0, 1, 0f, dw, 10, 30);
            }
        }
        assertArrayEquals(w1, w2);
    }
}
