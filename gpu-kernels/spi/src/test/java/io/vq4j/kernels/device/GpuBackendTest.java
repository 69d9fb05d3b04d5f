package io.vq4j.kernels.device;

import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.Tuning;
import io.vq4j.kernels.device.Tiles.Tile;
import io.vq4j.kernels.packed.PackedMatrix;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the GPU backends share, without a device: tiles cover a call in order, the M-step's
 * partials are the CPU's 4,096 vectors and its tiles whole partials, uploads are owned, counted
 * and freed once. The backends' own parity tests (GpuParityTest) check the same on a device.
 */
class GpuBackendTest {
    /** A backend with no device: its uploads only record that they were freed. */
    static final class Hostless extends GpuBackend<Hostless.Upload> {
        final List<Upload> freed = new ArrayList<>();

        Hostless(long globalMemory) {
            super(globalMemory, Long.MAX_VALUE);
        }

        final class Upload extends DeviceWeights {
            Upload(PackedMatrix m) {
                super(Hostless.this, m);
            }

            @Override
            protected void free() {
                freed.add(this);
            }
        }

        @Override
        protected Upload uploadPacked(PackedMatrix matrix) {
            return new Upload(matrix);
        }

        @Override
        public Tuning tuning() {
            return new Tuning("test", 16, 64, 64, 64);
        }

        @Override
        public String name() {
            return "hostless";
        }

        @Override
        public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, float[] b,
                         float beta, float[] c) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void assignNearest(float[] vectors, float[] weights, int n, int d, float[] codebook, int k, int[] index,
                                  float[] distance) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void accumulateCentroids(float[] vectors, float[] weights, int n, int d, int[] index, int k,
                                        double[] sums, double[] weightSums) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void dequant(PackedWeights weights, float[] out) {
            own(weights);
        }

        @Override
        public void dequantMatmul(PackedWeights weights, float[] x, int n, float[] y) {
            own(weights);
        }
    }

    static List<Tile> list(Tiles tiles) {
        List<Tile> out = new ArrayList<>();
        tiles.forEach(out::add);
        return out;
    }

    @Test
    void tilesCoverTheItemsInOrderWithAShorterLastOne() {
        assertEquals(List.of(new Tile(0, 4), new Tile(4, 4), new Tile(8, 2)), list(new Tiles(10, 4)));
        assertEquals(List.of(new Tile(0, 3)), list(new Tiles(3, 3)));
        assertEquals(List.of(), list(new Tiles(0, 5)));
    }

    @Test
    void partialsAreTheCpusUnlessTheirArraysWouldNotFit() {
        assertEquals(4096, Partials.VECTORS);
        assertEquals(4096, Partials.vectorsPer(1_000_000, 1024));
        // k = 65,536 and d = 8: 8 MiB a partial, 32 fit 256 MiB, so 200,000 vectors take partials of 6,250
        assertEquals(6250, Partials.vectorsPer(200_000, 65536L * 8));
    }

    @Test
    void theMStepRunsInTilesOfWholePartialsOrSaysWhyNot() {
        try (Hostless b = new Hostless(1L << 30)) {
            Partials all = b.partials(20000, 4, 300, true);
            assertEquals(4096, all.vectors());
            assertEquals(5, all.count());
            assertEquals(20000, all.tiles().size(), "everything fits: one tile");
            // the test budget of GpuParityTest: one partial per tile
            b.limitCallBytes(320 << 10);
            Partials tiled = b.partials(20000, 4, 300, true);
            assertEquals(4096, tiled.tiles().size());
            Tile last = list(tiled.tiles()).getLast();
            assertEquals(new Tile(16384, 3616), last);
            assertEquals(4, tiled.first(last));
            assertEquals(1, tiled.in(last));
            // room for 100 vectors beside the sums, not for a partial of 4,096
            b.limitCallBytes(2 * 4 * 8 + 100 * 8);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> b.partials(10000, 1, 1, false));
            assertEquals("hostless: accumulateCentroids n=10000 d=1 k=1 does not fit the device: not even one partial"
                    + " of 4096 vectors fits", e.getMessage());
        }
    }

    @Test
    void assignmentAndMatmulTilesFitTheBudget() {
        try (Hostless b = new Hostless(1L << 30)) {
            b.limitCallBytes(1000);
            // 40 + 50 floats per input row: 2 rows in 1,000 bytes
            assertEquals(2, b.matmulTiles(9, 50, 40).size());
            // the 4,800-byte codebook alone is more than a call may hold
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> b.assignTiles(500, 4, 300, false));
            assertTrue(e.getMessage().startsWith("hostless: assignNearest n=500 d=4 k=300 does not fit the device"),
                    e.getMessage());
            b.limitCallBytes(10_000);
            // 4,800 bytes of codebook, 24 bytes a vector: 216 fit, cut to whole work-groups of 64
            assertEquals(192, b.assignTiles(500, 4, 300, false).size());
        }
    }

    @Test
    void uploadsAreOwnedCountedAndFreedOnce() {
        PackedMatrix m = PackedMatrix.dense(new float[6], 2, 3, false);
        try (Hostless b = new Hostless(1L << 30); Hostless other = new Hostless(1L << 30)) {
            PackedWeights w = b.upload(m);
            PackedWeights v = b.upload(m);
            assertEquals(m.deviceBytes(), w.deviceBytes());
            assertEquals(2 * m.deviceBytes(), b.packedBytes());
            assertEquals(2 * m.deviceBytes(), b.peakDeviceBytes());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> other.dequant(w, new float[6]));
            assertTrue(e.getMessage().startsWith("packed weights from another backend"), e.getMessage());
            w.close();
            w.close();
            assertEquals(1, b.freed.size(), "freed once");
            assertEquals(m.deviceBytes(), b.packedBytes());
            IllegalStateException closed = assertThrows(IllegalStateException.class,
                    () -> b.dequantMatmul(w, new float[3], 1, new float[2]));
            assertEquals("packed weights used after close()", closed.getMessage());
            b.resetPeakDeviceBytes();
            assertEquals(m.deviceBytes(), b.peakDeviceBytes());
            b.close();
            assertEquals(List.of(w, v), List.copyOf(b.freed), "close() frees the uploads still open");
            assertEquals(0, b.packedBytes());
        }
    }
}
