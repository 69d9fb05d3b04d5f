package io.vq4j.pack;

import io.vq4j.kernels.BackendProvider;
import io.vq4j.kernels.select.Backends;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.cuda.Cuda;
import io.vq4j.kernels.cuda.CudaBackend;
import io.vq4j.kernels.opencl.OpenCl;
import io.vq4j.kernels.opencl.OpenClBackend;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.PackedLayout;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedMatrixBuilder;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.quant.Methods;
import io.vq4j.quant.QuantOptions;
import io.vq4j.quant.core.HessianAccumulator;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.method.QuantSpec;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * dequant and dequantMatmul on every packed layout: the CPU backend against the layout as
 * documented ({@link LayoutOracle}, then a plain sum over the stored column order), and the OpenCL
 * and CUDA backends against the CPU bit for bit (a one-row product within the bound that
 * Backend#dequantMatmul states). GPU parts run on the first OpenCL device (PoCL
 * in CI; required when VQ_REQUIRE_OPENCL=1), the first CUDA device (where there is one;
 * required when VQ_REQUIRE_CUDA=1) and the default device of every backend provider on the
 * class path (the TornadoVM backend, when the tornado module runs this test; VQ_REQUIRE_TORNADO=1).
 */
class PackedKernelsTest {
    static final Backend CPU = new CpuBackend();

    /** The first OpenCL device and the first CUDA device, those that exist. */
    static List<Backend> gpus() {
        List<Backend> out = new ArrayList<>();
        if (!OpenCl.devices().isEmpty()) {
            out.add(new OpenClBackend(0));
        } else if ("1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
            fail("VQ_REQUIRE_OPENCL=1 but " + OpenCl.unavailableReason());
        } else {
            System.err.println("PackedKernelsTest: OpenCL parity skipped: " + OpenCl.unavailableReason());
        }
        if (!Cuda.devices().isEmpty()) {
            out.add(new CudaBackend(0));
        } else if ("1".equals(System.getenv("VQ_REQUIRE_CUDA"))) {
            fail("VQ_REQUIRE_CUDA=1 but " + Cuda.unavailableReason());
        } else {
            System.err.println("PackedKernelsTest: CUDA parity skipped: " + Cuda.unavailableReason());
        }
        // backends of optional modules on the class path (the tornado module runs this test too)
        for (io.vq4j.kernels.BackendProvider p : io.vq4j.kernels.select.Backends.providers()) {
            String require = "VQ_REQUIRE_" + p.prefix().toUpperCase(java.util.Locale.ROOT);
            if (p.available()) {
                out.add(p.open(p.prefix()));
            } else if ("1".equals(System.getenv(require))) {
                fail(require + "=1 but " + p.unavailableReason());
            } else {
                System.err.println("PackedKernelsTest: " + p.prefix() + " parity skipped: " + p.unavailableReason());
            }
        }
        return out;
    }

    /** y[t][r] = Σ_c W[r, perm[c]] x[t][perm[c]], in float, in stored order: the documented order of the product. */
    static float[] expectedProduct(PackedMatrix q, float[] x, int n) {
        float[] w = LayoutOracle.dequantize(q);
        int rows = q.rows();
        int cols = q.cols();
        int[] perm = q.perm();
        float[] y = new float[n * rows];
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < rows; r++) {
                float acc = 0f;
                for (int c = 0; c < cols; c++) {
                    int col = perm == null ? c : perm[c];
                    acc = acc + w[r * cols + col] * x[t * cols + col];
                }
                y[t * rows + r] = acc;
            }
        }
        return y;
    }

    static void check(PackedMatrix q, List<Backend> gpus, SplittableRandom r) {
        String what = q.method() + " " + q.rows() + "x" + q.cols() + " " + q.segments().size() + " segment(s)";
        float[] dense = LayoutOracle.dequantize(q);
        int n = 3;
        float[] x = new float[n * q.cols()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        float[] expected = expectedProduct(q, x, n);
        float[] out = new float[dense.length];
        float[] y = new float[n * q.rows()];
        try (PackedWeights w = CPU.upload(q)) {
            CPU.dequant(w, out);
            assertArrayEquals(dense, out, what + ": cpu dequant vs the documented layout");
            CPU.dequantMatmul(w, x, n, y);
            assertArrayEquals(expected, y, what + ": cpu dequantMatmul");
            float[] y1 = new float[q.rows()];
            CPU.dequantMatvec(w, x, y1);
            assertArrayEquals(java.util.Arrays.copyOf(expected, q.rows()), y1, what + ": cpu dequantMatvec");
        }
        for (Backend gpu : gpus) {
            try (PackedWeights w = gpu.upload(q)) {
                float[] gout = new float[dense.length];
                gpu.dequant(w, gout);
                assertArrayEquals(dense, gout, what + ": " + gpu.name() + " dequant, bit for bit");
                float[] gy = new float[n * q.rows()];
                gpu.dequantMatmul(w, x, n, gy);
                assertArrayEquals(y, gy, what + ": " + gpu.name() + " dequantMatmul, bit for bit");
                // one row (a matrix-vector product): the tree of partial sums, within the bound
                // Backend#dequantMatmul states, 2 cols 2^-24 sum_c |W[r, c] x[c]|
                float[] gv = new float[q.rows()];
                gpu.dequantMatvec(w, x, gv);
                for (int o = 0; o < q.rows(); o++) {
                    double magnitude = 0;
                    for (int c = 0; c < q.cols(); c++) {
                        magnitude += Math.abs((double) dense[o * q.cols() + c] * x[c]);
                    }
                    assertEquals(expected[o], gv[o], 2.0 * q.cols() * 0x1p-24 * magnitude,
                            what + ": " + gpu.name() + " dequantMatvec row " + o);
                }
            }
        }
    }

    /** Layers from the quantizers themselves: every method, with act-order, block scales, residuals, outliers, perm, norm. */
    static List<PackedMatrix> quantizerLayers() {
        int rows = 32;
        int cols = 64;
        SplittableRandom r = new SplittableRandom(5);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (r.nextGaussian() * (i % 13 == 0 ? 4 : 1));
        }
        float[] x = new float[256 * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() * (1 + i % cols % 5));
        }
        HessianAccumulator acc = new HessianAccumulator(CPU, cols);
        acc.add(x, 256);
        double[] h = acc.hessian(0.01);
        List<QuantSpec> specs = List.of(
                QuantOptions.build("rtn", Map.of("--bits", 3, "--group-size", 16)),
                QuantOptions.build("gptq", Map.of("--bits", 4, "--group-size", 32, "--symmetric", true, "--act-order",
                        true)),
                QuantOptions.build("kmeans", Map.of("--dim", 2, "--centroids", 16, "--group-size", 32, "--iters", 5,
                        "--tol", 0.0)),
                QuantOptions.build("gptvq", Map.of("--dim", 2, "--centroids", 32, "--group-size", 32, "--iters", 5,
                        "--tol", 0.0, "--block-size", 16, "--block-norm", 16, "--int8-codebooks", true)),
                QuantOptions.build("vptq", Map.of("--dim", 4, "--centroids", 32, "--residual-centroids", List.of(8),
                        "--outlier-percent", 5.0, "--outlier-centroids", 8, "--iters", 5, "--tol", 0.0, "--perm", true,
                        "--norm", true)));
        List<PackedMatrix> out = new ArrayList<>();
        for (QuantSpec s : specs) {
            LayerQuantizer q = Methods.forName(s.method());
            q.validate(s, rows, cols);
            out.add(q.quantize(new LayerProblem("t", w, rows, cols, q.needsHessian() ? h : null, s, CPU, 3)));
        }
        return out;
    }

    /** Index widths 1 to 16 (k = 2^b, and k = 2^b − 1 where that narrows nothing), scalar codes 1 to 16 bits. */
    static List<PackedMatrix> widthLayers(SplittableRandom r) {
        List<PackedMatrix> out = new ArrayList<>();
        int rows = 6;
        int cols = 10;
        for (int b = 1; b <= 16; b++) {
            int k = 1 << b;
            int n = rows * cols; // d = 1: one vector per weight
            float[] cb = new float[k];
            for (int i = 0; i < k; i++) {
                cb[i] = Codebooks.f16((float) r.nextGaussian());
            }
            int[] idx = new int[n];
            for (int i = 0; i < n; i++) {
                idx[i] = i % 3 == 0 ? k - 1 : r.nextInt(k); // the largest index at every third place
            }
            out.add(PackedMatrix.builder(rows, cols).method("width" + b).vector("", 0, cols,
                    b % 2 == 0 ? Axis.IN : Axis.OUT, 1, rows, cols, List.of(new StageValues(k, cb, idx)), null).build());
            int groups = (cols + 3) / 4;
            int[] codes = new int[rows * cols];
            for (int i = 0; i < codes.length; i++) {
                codes[i] = i % 2 == 0 ? k - 1 : r.nextInt(k);
            }
            float[] scales = new float[rows * groups];
            int[] zeros = new int[rows * groups];
            for (int i = 0; i < scales.length; i++) {
                scales[i] = Codebooks.f16((float) r.nextDouble(0.001, 1));
                zeros[i] = r.nextInt(k);
            }
            out.add(PackedMatrix.builder(rows, cols).method("scalar" + b)
                    .scalar("", 0, cols, b, 4, false, codes, scales, zeros).build());
        }
        // k = 1 (a 1-bit index that is always 0) and a lone row and column
        out.add(PackedMatrix.builder(1, 1).method("k1").vector("", 0, 1, Axis.IN, 1, 1, 1,
                List.of(new StageValues(1, new float[]{0.5f}, new int[]{0})), null).build());
        return out;
    }

    @Test
    void everyLayoutDecodesAsTheReferenceOnCpuAndOpenCl() {
        List<Backend> gpu = gpus();
        SplittableRandom r = new SplittableRandom(11);
        List<PackedMatrix> all = new ArrayList<>(PackedLayersTest.layers());
        all.addAll(quantizerLayers());
        all.addAll(widthLayers(r));
        for (PackedMatrix q : all) {
            check(q, gpu, r);
        }
        assertEquals(5 + 5 + 33, all.size());
    }

    @Test
    void largeCodebookAndNonMultipleShapes() {
        List<Backend> gpu = gpus();
        SplittableRandom r = new SplittableRandom(12);
        // k = 65,536 at d = 8 over a 67 x 96 matrix (rows not a multiple of the work-group size)
        int rows = 67;
        int cols = 96;
        int k = 65536;
        int d = 8;
        float[] cb = new float[k * d];
        for (int i = 0; i < cb.length; i++) {
            cb[i] = Codebooks.f16((float) r.nextGaussian());
        }
        int n = rows * cols / d;
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) {
            idx[i] = r.nextInt(k);
        }
        check(PackedMatrix.builder(rows, cols).method("k65536").vector("", 0, cols, Axis.IN, d, rows, cols,
                List.of(new StageValues(k, cb, idx)), null).build(), gpu, r);
    }

    static StageValues randomStage(SplittableRandom r, int groups, int k, int d, int vectors) {
        float[] cb = new float[groups * k * d];
        for (int i = 0; i < cb.length; i++) {
            cb[i] = Codebooks.f16((float) r.nextGaussian());
        }
        int[] idx = new int[vectors];
        for (int i = 0; i < vectors; i++) {
            idx[i] = r.nextInt(k);
        }
        return new StageValues(k, cb, idx);
    }

    /**
     * The batched kernel decodes a vector segment a sub-vector at a time: sub-vectors cut by the
     * edges of its tiles (32 columns; 32 rows on OpenCL, 16 on CUDA), a segment starting inside a
     * tile, two stages (a residual), codebook groups smaller than a tile. Bit for bit as the CPU.
     */
    @Test
    void subVectorsCutByTileEdgesDecodeExactly() {
        List<Backend> gpu = gpus();
        SplittableRandom r = new SplittableRandom(13);
        int rows = 45;
        int cols = 70;
        // columns [0, 6) along the output (d = 3: rows 30..32 straddle row 32), [6, 70) along the input
        // (d = 4: columns 30..33 straddle column 32), groups of 15 rows x 16 columns, 2 stages
        PackedMatrix m = PackedMatrix.builder(rows, cols).method("cut")
                .vector("outlier_", 0, 6, Axis.OUT, 3, 15, 6,
                        List.of(randomStage(r, 3, 8, 3, 6 * rows / 3)), null)
                .vector("", 6, cols, Axis.IN, 4, 15, 16,
                        List.of(randomStage(r, 3 * 4, 16, 4, rows * 64 / 4),
                                randomStage(r, 3 * 4, 4, 4, rows * 64 / 4)),
                        null)
                .build();
        check(m, gpu, r);
        // one segment along the output, d = 5 (rows 30..34 straddle row 32; on CUDA 15..19 row 16)
        check(PackedMatrix.builder(rows, 40).method("out5").vector("", 0, 40, Axis.OUT, 5, 45, 40,
                List.of(randomStage(r, 1, 32, 5, 40 * rows / 5)), null).build(), gpu, r);
    }

    /**
     * The batched kernel keeps the codebooks of a tile's group in local memory when they fit
     * (KernelSource.MATMUL_CODEBOOK_FLOATS, every stage's together) and gathers from global memory
     * otherwise: a codebook group that changes with the chunk of columns, a residual stage, two
     * segments in a row whose (only) group has the same number 0 (what local memory holds must be
     * told apart by segment), a chunk across a segment boundary, codebooks of exactly the limit
     * and of 4 floats past it, 70 rows (a last tile of 6). Bit for bit as the CPU either way.
     * The one-row kernel keeps a row's group in local memory when it has one and its codebooks
     * are no more floats than the row's weights in the segment: the 8 + 4-centroid segment, whose
     * two row groups meet inside the second tile, and the 8-centroid one along the output.
     */
    @Test
    void codebooksInLocalMemoryAndPastItDecodeExactly() {
        List<Backend> gpu = gpus();
        SplittableRandom r = new SplittableRandom(17);
        int rows = 70;
        int limit = io.vq4j.kernels.KernelSource.MATMUL_CODEBOOK_FLOATS;
        assertEquals(0, limit % 4);
        // [0, 64): d = 2 along the input, groups of all rows x 32 columns (one per chunk), 256 + 16 centroids
        // [64, 96): d = 2, groups of 35 rows x 32 columns of 8 + 4 centroids; [96, 176): d = 4, one group of
        // limit / 4 (exactly the limit); [176, 224): d = 2 along the output, one group of limit / 2 and a
        // residual of 2: 4 floats past the limit; [224, 256): d = 2 along the output, one group of 8
        PackedMatrix m = PackedMatrix.builder(rows, 256).method("local")
                .vector("", 0, 64, Axis.IN, 2, rows, 32,
                        List.of(randomStage(r, 2, 256, 2, rows * 32), randomStage(r, 2, 16, 2, rows * 32)), null)
                .vector("", 64, 96, Axis.IN, 2, 35, 32, List.of(randomStage(r, 2, 8, 2, rows * 16), randomStage(r, 2, 4, 2, rows * 16)), null)
                .vector("", 96, 176, Axis.IN, 4, rows, 80, List.of(randomStage(r, 1, limit / 4, 4, rows * 20)), null)
                .vector("outlier_", 176, 224, Axis.OUT, 2, rows, 48,
                        List.of(randomStage(r, 1, limit / 2, 2, 48 * rows / 2), randomStage(r, 1, 2, 2, 48 * rows / 2)),
                        null)
                .vector("", 224, 256, Axis.OUT, 2, rows, 32, List.of(randomStage(r, 1, 8, 2, 32 * rows / 2)), null)
                .build();
        check(m, gpu, r);
    }

    /** y[t][r] = Σ_c w[r, c] x[t][c] in float, in column order. */
    static float[] plainProduct(float[] w, int rows, int cols, float[] x, int n) {
        float[] y = new float[n * rows];
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < rows; r++) {
                float acc = 0f;
                for (int c = 0; c < cols; c++) {
                    acc = acc + w[r * cols + c] * x[t * cols + c];
                }
                y[t * rows + r] = acc;
            }
        }
        return y;
    }

    /** The dense baseline: fp32 and fp16 segments (alone, and after a scalar segment), CPU vs exact values, OpenCL vs CPU. */
    @Test
    void denseSegmentsInFp32AndFp16() {
        List<Backend> gpus = gpus();
        SplittableRandom r = new SplittableRandom(13);
        int rows = 37;
        int cols = 53;
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (r.nextGaussian() * (i % 7 == 0 ? 300 : 0.01));
        }
        float[] half = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            half[i] = Float.float16ToFloat(Float.floatToFloat16(w[i]));
        }
        int n = 3;
        float[] x = new float[n * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        // a 1-bit scalar segment of 5 columns first leaves the byte stream at an odd length
        int sc = 5;
        int[] codes = new int[rows * sc];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = r.nextInt(2);
        }
        float[] scales = new float[rows];
        java.util.Arrays.fill(scales, 0.25f);
        float[] rest = new float[rows * (cols - sc)];
        float[] mixed = new float[w.length];
        for (int row = 0; row < rows; row++) {
            for (int c = 0; c < cols; c++) {
                mixed[row * cols + c] = c < sc ? 0.25f * codes[row * sc + c]
                        : Float.float16ToFloat(Float.floatToFloat16(w[row * cols + c]));
                if (c >= sc) {
                    rest[row * (cols - sc) + c - sc] = w[row * cols + c];
                }
            }
        }
        PackedMatrix mixedMatrix = PackedMatrix.builder(rows, cols)
                .scalar("", 0, sc, 1, sc, false, codes, scales, new int[rows]).dense(sc, cols, rest, true).build();
        Segment.Dense halves = (Segment.Dense) mixedMatrix.segments().get(1);
        assertEquals(0, halves.valuesAt() % 2, "halves start on an even byte");
        assertEquals(halves.valuesAt(), mixedMatrix.segmentTable()[PackedLayout.SEG_FIELDS + PackedLayout.SEG_VALUES]);
        Object[][] cases = {{PackedMatrix.dense(w, rows, cols, false), w, "fp32"},
                {PackedMatrix.dense(w, rows, cols, true), half, "fp16"}, {mixedMatrix, mixed, "scalar + fp16"}};
        for (Object[] c : cases) {
            PackedMatrix m = (PackedMatrix) c[0];
            float[] expected = (float[]) c[1];
            float[] y = new float[n * rows];
            try (PackedWeights h = CPU.upload(m)) {
                float[] out = new float[w.length];
                CPU.dequant(h, out);
                assertArrayEquals(expected, out, c[2] + ": cpu dequant");
                CPU.dequantMatmul(h, x, n, y);
                assertArrayEquals(plainProduct(expected, rows, cols, x, n), y, c[2] + ": cpu dequantMatmul");
            }
            for (Backend gpu : gpus) {
                try (PackedWeights h = gpu.upload(m)) {
                    float[] out = new float[w.length];
                    gpu.dequant(h, out);
                    assertArrayEquals(expected, out, c[2] + ": " + gpu.name() + " dequant, bit for bit");
                    float[] gy = new float[n * rows];
                    gpu.dequantMatmul(h, x, n, gy);
                    assertArrayEquals(y, gy, c[2] + ": " + gpu.name() + " dequantMatmul, bit for bit");
                }
            }
        }
        assertEquals(4L * rows * cols, PackedMatrix.dense(w, rows, cols, false).floats().length * 4L);
        assertEquals(2L * rows * cols + 4, PackedMatrix.dense(w, rows, cols, true).bytes().length);
    }

    /** A GPU backend counts its own buffers: the upload, then each call's input and output on top. */
    @Test
    void peakDeviceMemoryCountsUploadsAndCallBuffers() {
        assertEquals(-1, CPU.peakDeviceBytes());
        for (Backend gpu : gpus()) {
            try (gpu) {
            int rows = 40;
            int cols = 24;
            PackedMatrix m = PackedMatrix.dense(new float[rows * cols], rows, cols, false);
            gpu.resetPeakDeviceBytes();
            assertEquals(0, gpu.peakDeviceBytes());
            PackedWeights h = gpu.upload(m);
            assertEquals(m.deviceBytes(), gpu.peakDeviceBytes());
            gpu.dequantMatmul(h, new float[5 * cols], 5, new float[5 * rows]);
            assertEquals(m.deviceBytes() + 4L * 5 * (cols + rows), gpu.peakDeviceBytes());
            h.close();
            gpu.resetPeakDeviceBytes();
            assertEquals(0, gpu.peakDeviceBytes(), "everything released");
            }
        }
    }

    @Test
    void handlesBelongToTheirBackend() {
        PackedMatrix m = PackedLayersTest.layers().getFirst();
        Backend other = new CpuBackend();
        try (PackedWeights w = other.upload(m)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CPU.dequant(w, new float[m.rows() * m.cols()]));
            assertEquals(true, e.getMessage().startsWith("packed weights from another backend"));
        }
        try (PackedWeights w = CPU.upload(m)) {
            assertThrows(IllegalArgumentException.class, () -> CPU.dequantMatmul(w, new float[m.cols()], 2,
                    new float[2 * m.rows()]), "x too short for n = 2");
        }
    }

    @Test
    void builderRefusesGapsAndBadPermutations() {
        PackedMatrixBuilder b = PackedMatrix.builder(2, 4);
        b.scalar("", 0, 2, 2, 2, false, new int[4], new float[2], new int[2]);
        assertThrows(IllegalArgumentException.class, () -> b.scalar("", 3, 4, 2, 2, false, new int[2], new float[2],
                new int[2]));
        assertThrows(IllegalArgumentException.class, b::build);
        assertThrows(IllegalArgumentException.class, () -> b.permutation(new int[]{0, 1, 1, 3}));
    }
}
