package io.vq4j.quant.gptvq;

import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.pack.PackedLayers;
import io.vq4j.quant.Specs;
import io.vq4j.quant.core.KMeans;
import io.vq4j.quant.gptq.GptqTest;
import io.vq4j.quant.kmeans.KMeansVq;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.quant.rtn.RtnQuantizer;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GptvqTest {
    static final CpuBackend CPU = new CpuBackend();
    static final int ROWS = 64;
    static final int COLS = 128;
    static final float[] W = GptqTest.weights(ROWS, COLS, 11);
    static final double[] H = GptqTest.hessian(COLS, 512, 12);

    static QuantSpec spec(int d, int k) {
        return Specs.of("gptvq", "--dim", d, "--centroids", k, "--iters", 20, "--tol", 1e-6, "--block-size", 32);
    }

    static double error(PackedMatrix q) {
        return GptqTest.error(W, q.dequantize(), H, ROWS, COLS);
    }

    static PackedMatrix run(LayerQuantizer m, QuantSpec s, long seed) {
        m.validate(s, ROWS, COLS);
        return m.quantize(new LayerProblem("x", W, ROWS, COLS, m.needsHessian() ? H : null, s, CPU, seed));
    }

    @Test
    void beatsNaiveKMeansAtTheSameDimensionAndCodebookSize() {
        for (int[] dk : new int[][]{{2, 16}, {2, 64}, {4, 256}}) {
            QuantSpec s = spec(dk[0], dk[1]);
            QuantSpec plain = Specs.of("kmeans", "--dim", dk[0], "--centroids", dk[1], "--iters", 20, "--tol", 1e-6);
            double naive = error(run(KMeansVq.METHOD, plain, 1));
            double noUpdate = error(run(Gptvq.METHOD, Specs.with(s, "--no-codebook-update", true), 1));
            double full = error(run(Gptvq.METHOD, s, 1));
            double maha = error(run(Gptvq.METHOD, Specs.with(s, "--init", "mahalanobis"), 1));
            System.out.printf("gptvq d=%d k=%d: H-error kmeans %.4f gptvq(no update) %.4f gptvq %.4f gptvq(mahalanobis) %.4f%n",
                    dk[0], dk[1], naive, noUpdate, full, maha);
            assertTrue(noUpdate < naive, "error feedback and weighted EM beat plain k-means");
            assertTrue(full <= noUpdate, "the codebook update never makes the layer worse");
            assertTrue(maha < naive);
        }
    }

    @Test
    void dOneIsGptqOnANonUniformGrid() {
        // the same loop with d = 1 and 16 centroids: compare with 4-bit GPTQ; both beat RTN
        double vq = error(run(Gptvq.METHOD, spec(1, 16), 1));
        double rtn = error(run(RtnQuantizer.METHOD, Specs.of("rtn", "--bits", 4, "--group-size", 0), 1));
        assertTrue(vq < rtn, vq + " vs " + rtn);
    }

    @Test
    void groupsBlockScalesAndInt8CodebooksRoundTripExactly() {
        QuantSpec s = Specs.with(spec(2, 16), "--group-size", 32, "--group-rows", 16, "--block-norm", 8,
                "--int8-codebooks", true);
        PackedMatrix q = run(Gptvq.METHOD, s, 3);
        var v = (Segment.Vector) q.segments().getFirst();
        assertNotNull(v.blockScales());
        assertEquals(4 * 4, v.groups(ROWS), "4 row blocks x 4 column groups");
        assertEquals(CodebookFormat.INT8, q.stages(v).getFirst().format());
        // through the packed format and back: the same weights, bit for bit
        java.util.Map<String, PackedLayers.Part> parts = new java.util.HashMap<>();
        for (PackedLayers.Part p : PackedLayers.parts("x", q)) {
            parts.put(p.name(), p);
        }
        PackedMatrix back = PackedLayers.read("x", PackedLayers.layoutJson(q), new PackedLayers.TensorSource() {
            public boolean contains(String n) {
                return parts.containsKey(n);
            }

            public PackedLayers.Tensor get(String n) {
                PackedLayers.Part p = parts.get(n);
                return p == null ? null : new PackedLayers.Tensor(p.dtype(), p.shape(), p.bytes());
            }
        });
        assertArrayEquals(q.dequantize(), back.dequantize());
        // blockwise normalisation helps at the same codebook
        double plain = error(run(Gptvq.METHOD, spec(2, 16), 3));
        double normed = error(run(Gptvq.METHOD, Specs.with(spec(2, 16), "--block-norm", 8), 3));
        System.out.printf("gptvq d=2 k=16: H-error %.4f, with block scales per 8 columns %.4f%n", plain, normed);
        assertTrue(normed < plain);
    }

    @Test
    void sameSeedSameLayerOtherSeedOther() {
        PackedMatrix a = run(Gptvq.METHOD, spec(2, 16), 5);
        PackedMatrix b = run(Gptvq.METHOD, spec(2, 16), 5);
        PackedMatrix c = run(Gptvq.METHOD, spec(2, 16), 6);
        assertArrayEquals(a.dequantize(), b.dequantize());
        assertTrue(!java.util.Arrays.equals(a.dequantize(), c.dequantize()));
    }

    @Test
    void mahalanobisSeedsAreEvenlySpacedThroughTheSortedDistances() {
        // 1-d points 0..9: mean 4.5, distances ordered 4,5,3,6,2,7,1,8,0,9 (ties keep input order);
        // k = 4: step = floor(10/3) = 3 -> sorted positions 0, 3, 6, 9 -> points 4, 6, 1, 9
        float[] x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
        assertArrayEquals(new float[]{4, 6, 1, 9}, KMeans.seedMahalanobis(x, 10, 1, 4));
    }

    @Test
    void badOptions() {
        assertEquals("--dim 3 does not divide the 128 columns", assertThrows(IllegalArgumentException.class,
                () -> Gptvq.METHOD.validate(spec(3, 16), ROWS, COLS)).getMessage());
        assertEquals("--centroids 8192 is more than the 4096 vectors of a codebook group",
                assertThrows(IllegalArgumentException.class, () -> Gptvq.METHOD.validate(spec(2, 8192), ROWS, COLS))
                        .getMessage());
        assertEquals("--init must be kmeans++ or mahalanobis, got 'random'", assertThrows(IllegalArgumentException.class,
                () -> Gptvq.METHOD.validate(Specs.with(spec(2, 16), "--iters", 5, "--tol", 0.0, "--init", "random"),
                        ROWS, COLS)).getMessage());
        assertEquals("--block-norm 5 must be a multiple of --dim 2", assertThrows(IllegalArgumentException.class,
                () -> Gptvq.METHOD.validate(Specs.with(spec(2, 16), "--block-norm", 5), ROWS, COLS)).getMessage());
    }
}
