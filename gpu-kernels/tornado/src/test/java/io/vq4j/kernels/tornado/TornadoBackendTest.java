package io.vq4j.kernels.tornado;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.GpuParityTest;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GPU parity tests (every SPI operation against the CPU backend, bit for bit where the
 * others are) on TornadoVM's default device: PoCL through TornadoVM's OpenCL backend here.
 * This module only builds with a TornadoVM runtime, so the device is required, not skipped.
 */
class TornadoBackendTest extends GpuParityTest {
    @Override
    protected Backend open() {
        return new TornadoProvider().open("tornado");
    }

    @Override
    protected Backend openLimited(long bytes) {
        TornadoBackend b = (TornadoBackend) new TornadoProvider().open("tornado");
        b.limitCallBytes(bytes);
        return b;
    }

    @Test
    void aShapeBuildsOnePlanThatLaterCallsReuse() {
        TornadoBackend b = (TornadoBackend) gpu;
        SplittableRandom r = new SplittableRandom(7);
        int n = 3000;
        int d = 2;
        int k = 64;
        float[] cb = new float[k * d];
        for (int i = 0; i < cb.length; i++) {
            cb[i] = (float) r.nextGaussian();
        }
        int before = b.plansBuilt();
        for (int iter = 0; iter < 4; iter++) { // a k-means loop: both shapes, four times
            float[] x = new float[n * d];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            int[] i1 = new int[n];
            float[] d1 = new float[n];
            int[] i2 = new int[n];
            float[] d2 = new float[n];
            cpu.assignNearest(x, null, n, d, cb, k, i1, d1);
            b.assignNearest(x, null, n, d, cb, k, i2, d2);
            assertArrayEquals(i1, i2);
            assertArrayEquals(d1, d2);
            double[] s1 = new double[k * d];
            double[] w1 = new double[k * d];
            double[] s2 = new double[k * d];
            double[] w2 = new double[k * d];
            cpu.accumulateCentroids(x, null, n, d, i1, k, s1, w1);
            b.accumulateCentroids(x, null, n, d, i2, k, s2, w2);
            assertArrayEquals(s1, s2);
            for (int c = 0; c < k * d; c++) {
                cb[c] = w1[c] > 0 ? (float) (s1[c] / w1[c]) : cb[c];
            }
        }
        assertEquals(2, b.plansBuilt() - before, "one plan per shape");
    }

    @Test
    void theBackendRefusesToRunWithoutTheFlagsItsResultsDependOn() {
        String old = System.getProperty("tornado.recover.bailout");
        try {
            System.setProperty("tornado.recover.bailout", "True");
            IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                    TornadoBackend::checkFlags);
            assertTrue(e.getMessage().contains("-Dtornado.recover.bailout=False"), e.getMessage());
        } finally {
            System.setProperty("tornado.recover.bailout", old);
        }
    }

    @Test
    void devicesAreListed() {
        assertTrue(gpu.name().startsWith("tornado:0:0 "), gpu.name());
        var lines = new TornadoProvider().list();
        assertTrue(lines.stream().anyMatch(l -> l.device().equals("tornado:0:0")
                && l.description().contains("--device tornado opens it")), lines.toString());
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new TornadoProvider().open("tornado:0:99"));
        assertTrue(e.getMessage().startsWith("no device 99 on TornadoVM backend 0"), e.getMessage());
    }
}
