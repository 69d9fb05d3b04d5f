package io.vq4j.kernels;

import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.cpu.ForwardKernels;
import io.vq4j.kernels.packed.PackedMatrix;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A backend's {@link ForwardOps} against the CPU backend's (the reference), op by op on random
 * and awkward shapes (widths that are not multiples of the work-group, one row, a start inside
 * the cache, grouped-query heads): exact where {@link ForwardOps} promises it, within the bound
 * it states elsewhere (u = 2⁻²⁴), and the same bits on a second run.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class ForwardOpsParityTest {
    private static final double U = 0x1p-24;
    protected Backend dev;
    protected ForwardOps ops;
    private final Backend cpu = new CpuBackend();
    private final ForwardOps ref = cpu.forwardOps();

    /** The backend under test; skips (an assumption) when its device is absent and not required. */
    protected abstract Backend open();

    /** The ops under test (default: the backend's own choice). */
    protected ForwardOps opsOf(Backend backend) {
        return backend.forwardOps();
    }

    @BeforeAll
    void openDevice() {
        dev = open();
        ops = opsOf(dev);
    }

    @AfterAll
    void closeDevice() {
        if (dev != null) {
            dev.close();
        }
    }

    private static float[] gaussian(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return a;
    }

    private float[] onDevice(float[] values, int rows, int cols, Op op) {
        try (ResidentMatrix m = dev.resident(values.clone(), rows, cols)) {
            op.run(m);
            return ops.read(m, rows);
        }
    }

    private interface Op {
        void run(ResidentMatrix m);
    }

    private static void assertExact(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]),
                    what + " at " + i + ": " + want[i] + " vs " + got[i]);
        }
    }

    private static void assertWithin(float[] want, float[] got, double[] bound, String what) {
        assertEquals(want.length, got.length, what);
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs((double) want[i] - got[i]);
            assertTrue(err <= bound[i], what + " at " + i + ": " + want[i] + " vs " + got[i] + " (bound " + bound[i]
                    + ")");
            worst = Math.max(worst, bound[i] == 0 ? 0 : err / bound[i]);
        }
        System.out.printf("%s: worst error %.3f of the bound%n", what, worst);
    }

    @Test
    void embeddingGathersRowsExactly() {
        SplittableRandom r = new SplittableRandom(1);
        int vocab = 37, dim = 70;
        float[] table = gaussian(r, vocab * dim, 1);
        int[] ids = {5, 0, 36, 5, 12, 1};
        float[] want = new float[4 * dim];
        try (ResidentMatrix t = cpu.resident(table, vocab, dim); ResidentMatrix o = cpu.resident(want, 4, dim)) {
            ref.embed(t, ids, 1, 4, o);
        }
        float[] got;
        try (ResidentMatrix t = dev.resident(table, vocab, dim); ResidentMatrix o = ops.zeros(4, dim)) {
            ops.embed(t, ids, 1, 4, o);
            got = ops.read(o, 4);
            assertThrows(IllegalArgumentException.class, () -> ops.embed(t, new int[]{3, 37}, 0, 2, o));
        }
        assertExact(want, got, "embed");
    }

    @Test
    void rmsnormWithinItsBound() {
        SplittableRandom r = new SplittableRandom(2);
        for (int dim : new int[]{7, 64, 288, 1000}) {
            int rows = 5;
            float[] x = gaussian(r, rows * dim, 3);
            float[] g = gaussian(r, dim, 1);
            float[] want = new float[3 * dim];
            try (ResidentMatrix hx = cpu.resident(x, rows, dim); ResidentMatrix hg = cpu.resident(g, 1, dim);
                 ResidentMatrix ho = cpu.resident(want, 3, dim)) {
                ref.rmsnorm(hx, 2, 3, hg, 1e-5f, ho, 0);
            }
            float[][] got = new float[2][];
            for (int run = 0; run < 2; run++) {
                try (ResidentMatrix dx = dev.resident(x, rows, dim); ResidentMatrix dg = dev.resident(g, 1, dim);
                     ResidentMatrix dout = ops.zeros(3, dim)) {
                    ops.rmsnorm(dx, 2, 3, dg, 1e-5f, dout, 0);
                    got[run] = ops.read(dout, 3);
                }
            }
            double[] bound = new double[want.length];
            for (int i = 0; i < want.length; i++) {
                bound[i] = (dim + 8) * U * Math.abs(want[i]) + Float.MIN_NORMAL;
            }
            assertWithin(want, got[0], bound, "rmsnorm dim " + dim);
            assertExact(got[0], got[1], "rmsnorm rerun");
        }
    }

    @Test
    void ropeIsExactInBothLayouts() {
        SplittableRandom r = new SplittableRandom(3);
        int heads = 3, hd = 10, rows = 6, positions = 20;
        double[] inv = new double[hd / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1.0 / Math.pow(10000, 2.0 * i / hd);
        }
        float[] table = ForwardKernels.ropeTable(inv, 0, positions);
        float[] a = gaussian(r, rows * heads * hd, 1);
        for (boolean interleaved : new boolean[]{false, true}) {
            float[] want = a.clone();
            try (ResidentMatrix h = cpu.resident(want, rows, heads * hd);
                 ResidentMatrix t = cpu.resident(table, positions, hd)) {
                ref.rope(h, rows, heads, hd, t, 9, interleaved);
            }
            float[] got;
            try (ResidentMatrix t = dev.resident(table, positions, hd)) {
                got = onDevice(a, rows, heads * hd, m -> ops.rope(m, rows, heads, hd, t, 9, interleaved));
            }
            assertExact(want, got, "rope interleaved=" + interleaved);
        }
    }

    @Test
    void attentionWithinItsBound() {
        SplittableRandom r = new SplittableRandom(4);
        // (heads, kvHeads, headDim, rows, start): a window's prefill, decode steps deep in the cache, GQA, hd > chunk,
        // prefills over several query blocks and key tiles (the tiled kernel: 16 positions a tile at hd 128, 8 at
        // 256), a width no kernel specialises, a block whose last queries start a new key tile
        int[][] shapes = {{8, 4, 8, 70, 0}, {8, 4, 8, 1, 130}, {4, 4, 20, 3, 5}, {2, 1, 64, 17, 40},
                {6, 2, 16, 100, 37}, {2, 1, 128, 45, 60}, {1, 1, 256, 33, 20}, {3, 1, 24, 65, 63}};
        for (int[] s : shapes) {
            int heads = s[0], kvHeads = s[1], hd = s[2], rows = s[3], start = s[4];
            int positions = start + rows + 3; // room beyond what the queries may see (must be ignored)
            float[] q = gaussian(r, rows * heads * hd, 1);
            float[] k = gaussian(r, positions * kvHeads * hd, 1);
            float[] v = gaussian(r, positions * kvHeads * hd, 1);
            float[] want = new float[rows * heads * hd];
            try (ResidentMatrix hq = cpu.resident(q, rows, heads * hd);
                 ResidentMatrix hk = cpu.resident(k, positions, kvHeads * hd);
                 ResidentMatrix hv = cpu.resident(v, positions, kvHeads * hd);
                 ResidentMatrix ho = cpu.resident(want, rows, heads * hd)) {
                ref.attention(hq, hk, hv, ho, rows, start, heads, kvHeads, hd);
            }
            float[][] got = new float[2][];
            for (int run = 0; run < 2; run++) {
                try (ResidentMatrix dq = dev.resident(q, rows, heads * hd);
                     ResidentMatrix dk = dev.resident(k, positions, kvHeads * hd);
                     ResidentMatrix dv = dev.resident(v, positions, kvHeads * hd);
                     ResidentMatrix dout = ops.zeros(rows, heads * hd)) {
                    ops.attention(dq, dk, dv, dout, rows, start, heads, kvHeads, hd);
                    got[run] = ops.read(dout, rows);
                }
            }
            double maxV = 0;
            for (float x : v) {
                maxV = Math.max(maxV, Math.abs(x));
            }
            double[] bound = new double[want.length];
            for (int t = 0; t < rows; t++) {
                double b = 16.0 * (hd + start + t + 1) * U * maxV;
                for (int i = 0; i < heads * hd; i++) {
                    bound[t * heads * hd + i] = b;
                }
            }
            String what = "attention " + heads + "/" + kvHeads + " heads of " + hd + ", " + rows + " at " + start;
            assertWithin(want, got[0], bound, what);
            assertExact(got[0], got[1], what + " rerun");
        }
    }

    @Test
    void elementwiseOps() {
        SplittableRandom r = new SplittableRandom(5);
        int rows = 3, cols = 131;
        float[] gate = gaussian(r, rows * cols, 4);
        float[] up = gaussian(r, rows * cols, 1);
        float[] bias = gaussian(r, cols, 1);
        float[] silu = gate.clone();
        float[] sum = gate.clone();
        float[] biased = gate.clone();
        try (ResidentMatrix g = cpu.resident(silu, rows, cols); ResidentMatrix s = cpu.resident(sum, rows, cols);
             ResidentMatrix b = cpu.resident(biased, rows, cols); ResidentMatrix u = cpu.resident(up, rows, cols);
             ResidentMatrix hb = cpu.resident(bias, 1, cols)) {
            ref.siluMul(g, u, rows);
            ref.add(s, u, rows);
            ref.addBias(b, rows, hb);
        }
        try (ResidentMatrix u = dev.resident(up, rows, cols); ResidentMatrix db = dev.resident(bias, 1, cols)) {
            float[] gotSilu = onDevice(gate, rows, cols, m -> ops.siluMul(m, u, rows));
            double[] bound = new double[silu.length];
            for (int i = 0; i < bound.length; i++) {
                bound[i] = 8 * U * Math.abs(silu[i]) + Float.MIN_NORMAL;
            }
            assertWithin(silu, gotSilu, bound, "siluMul");
            assertExact(sum, onDevice(gate, rows, cols, m -> ops.add(m, u, rows)), "add");
            assertExact(biased, onDevice(gate, rows, cols, m -> ops.addBias(m, rows, db)), "addBias");
            float[] copied = new float[2 * cols];
            System.arraycopy(up, cols, copied, cols, cols);
            assertExact(copied, onDevice(new float[2 * cols], 2, cols, m -> ops.copyRows(u, 1, m, 1, 1)), "copyRows");
        }
    }

    @Test
    void matmulOnResidentRowsIsDequantMatmul() {
        SplittableRandom r = new SplittableRandom(6);
        int out = 45, in = 70;
        float[] w = gaussian(r, out * in, 1);
        PackedMatrix m = PackedMatrix.dense(w, out, in, false);
        for (int rows : new int[]{1, 9}) {
            float[] x = gaussian(r, rows * in, 1);
            float[] want = new float[rows * out];
            try (PackedWeights p = dev.upload(m)) {
                dev.dequantMatmul(p, x, rows, want);
                float[] got;
                try (ResidentMatrix dx = dev.resident(x, rows, in); ResidentMatrix dy = ops.zeros(rows + 2, out)) {
                    ops.matmul(p, dx, rows, dy);
                    got = ops.read(dy, rows);
                }
                assertExact(want, got, "matmul n=" + rows + " against the same backend's dequantMatmul");
            }
        }
    }

    @Test
    void nllWithinItsBound() {
        SplittableRandom r = new SplittableRandom(7);
        for (int vocab : new int[]{512, 1001, 32000}) {
            int rows = 6;
            float[] logits = gaussian(r, rows * vocab, 5);
            int[] targets = new int[rows + 1];
            for (int i = 0; i < targets.length; i++) {
                targets[i] = r.nextInt(vocab);
            }
            float[] want;
            try (ResidentMatrix h = cpu.resident(logits, rows, vocab)) {
                want = ref.nll(h, rows, targets, 1);
            }
            float[] got;
            try (ResidentMatrix d = dev.resident(logits, rows, vocab)) {
                got = ops.nll(d, rows, targets, 1);
                assertThrows(IllegalArgumentException.class, () -> ops.nll(d, 1, new int[]{vocab}, 0));
            }
            double[] bound = new double[rows];
            for (int i = 0; i < rows; i++) {
                bound[i] = 2e-6 * (1 + Math.abs(want[i]));
            }
            assertWithin(want, got, bound, "nll vocab " + vocab);
        }
    }
}
