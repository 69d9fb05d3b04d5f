package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Both attention kernels on every shape, whichever ClForwardOps would choose: the tiled one
 * (prefills) on a single query too, the work-group per (query, head) one (decode steps) on a
 * prefill too, each against the CPU reference within ForwardOps.attention's bound. Without an
 * OpenCL runtime it skips, unless VQ_REQUIRE_OPENCL=1.
 */
class OpenClAttentionKernelsTest {
    private static final double U = 0x1p-24;

    @Test
    void bothKernelsMeetTheBoundOnEveryShape() {
        OpenClTestDevice.require();
        Backend cpu = new CpuBackend();
        ForwardOps ref = cpu.forwardOps();
        SplittableRandom r = new SplittableRandom(41);
        // (heads, kvHeads, headDim, rows, start)
        int[][] shapes = {{8, 4, 8, 1, 0}, {8, 4, 8, 1, 200}, {8, 4, 8, 70, 0}, {2, 1, 64, 1, 90}, {2, 1, 64, 33, 31},
                {4, 2, 20, 1, 7}, {4, 2, 20, 40, 3}, {1, 1, 128, 2, 70}};
        try (OpenClBackend dev = new OpenClBackend(0)) {
            ClForwardOps ops = (ClForwardOps) dev.forwardOps();
            for (int[] s : shapes) {
                int heads = s[0], kvHeads = s[1], hd = s[2], rows = s[3], start = s[4];
                int positions = start + rows;
                float[] q = gaussian(r, rows * heads * hd);
                float[] k = gaussian(r, positions * kvHeads * hd);
                float[] v = gaussian(r, positions * kvHeads * hd);
                float[] want = new float[rows * heads * hd];
                try (ResidentMatrix hq = cpu.resident(q, rows, heads * hd);
                     ResidentMatrix hk = cpu.resident(k, positions, kvHeads * hd);
                     ResidentMatrix hv = cpu.resident(v, positions, kvHeads * hd);
                     ResidentMatrix ho = cpu.resident(want, rows, heads * hd)) {
                    ref.attention(hq, hk, hv, ho, rows, start, heads, kvHeads, hd);
                }
                double maxV = 0;
                for (float x : v) {
                    maxV = Math.max(maxV, Math.abs(x));
                }
                for (boolean tiled : new boolean[]{true, false}) {
                    float[] got;
                    try (ResidentMatrix dq = dev.resident(q, rows, heads * hd);
                         ResidentMatrix dk = dev.resident(k, positions, kvHeads * hd);
                         ResidentMatrix dv = dev.resident(v, positions, kvHeads * hd);
                         ResidentMatrix dout = ops.zeros(rows, heads * hd)) {
                        ops.attention(dq, dk, dv, dout, rows, start, heads, kvHeads, hd, tiled);
                        got = ops.read(dout, rows);
                    }
                    for (int i = 0; i < want.length; i++) {
                        int t = i / (heads * hd);
                        double bound = 16.0 * (hd + start + t + 1) * U * maxV;
                        assertTrue(Math.abs((double) want[i] - got[i]) <= bound, (tiled ? "tiled" : "per query")
                                + " kernel, shape " + Arrays.toString(s) + " at " + i + ": " + want[i]
                                + " vs " + got[i]);
                    }
                }
            }
        }
    }

    private static float[] gaussian(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }
}
