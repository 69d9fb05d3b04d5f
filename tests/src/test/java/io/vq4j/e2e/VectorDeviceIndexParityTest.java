package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.opencl.OpenClBackend;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.model.ModelLoader;
import io.vq4j.quant.QuantOptions;
import io.vq4j.quant.SourceModel;
import io.vq4j.quant.job.QuantizeJob;
import io.vq4j.testing.SharedData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16: gptvq and vptq quantized on --device opencl choose the CPU's indices except near ties,
 * and their perplexities agree within 0.1 %. Each run goes through a backend that records every
 * assignNearest call (the codebook EM's and the error-feedback loop's nearest-centroid lookups:
 * every index of the packed model is one of them); the two runs' calls are compared in order. An
 * index that differs is a <em>near tie</em> when, on the CPU's own inputs of that call, the
 * device's centroid is within a relative {@link #TIE} of the CPU's (the nearest) in the SPI's
 * weighted distance: d(device's) − d(CPU's) ≤ TIE · d(CPU's). Every difference must be a near tie,
 * and near ties at most {@link #MAX_TIE_FRACTION} of all indices. On PoCL every kernel of these
 * methods gives the CPU's bits (CLBlast's gemm included, as observed), so none differs: 0 near
 * ties at both methods. A device whose gemm rounds otherwise may flip a near tie, whose different
 * error then feeds the row's later columns; such consequent differences are not modelled and
 * would fail here, leaving the perplexity bound (checked too) as the criterion.
 */
class VectorDeviceIndexParityTest {
    /** Relative tolerance of a near tie. */
    static final double TIE = 1e-5;
    /** The most near ties allowed, as a fraction of all indices compared. */
    static final double MAX_TIE_FRACTION = 1e-3;

    @BeforeAll
    static void needOpenCl() {
        DeviceCliTest.needOpenCl();
    }

    /** One assignNearest call: its inputs (copied) and the indices it chose. */
    record Call(float[] vectors, float[] weights, int n, int d, float[] codebook, int k, int[] index) {
    }

    @Test
    void gptvqOnOpenClChoosesTheCpusIndicesUpToNearTies(@TempDir Path dir) throws Exception {
        compare(dir, "gptvq", Map.of("--dim", 2, "--centroids", 64));
    }

    @Test
    void vptqOnOpenClChoosesTheCpusIndicesUpToNearTies(@TempDir Path dir) throws Exception {
        compare(dir, "vptq", Map.of("--dim", 2, "--centroids", 64));
    }

    private static void compare(Path dir, String method, Map<String, ?> options) throws Exception {
        Recording cpu = new Recording(new CpuBackend());
        Recording dev = new Recording(new OpenClBackend(0));
        Path a = quantize(dir.resolve("cpu"), method, options, cpu);
        Path b = quantize(dir.resolve("opencl"), method, options, dev);
        assertEquals(cpu.calls.size(), dev.calls.size(), method + ": assignNearest calls");
        long indices = 0, ties = 0, others = 0;
        for (int c = 0; c < cpu.calls.size(); c++) {
            Call x = cpu.calls.get(c), y = dev.calls.get(c);
            assertEquals(x.n() + "x" + x.d() + " k=" + x.k(), y.n() + "x" + y.d() + " k=" + y.k(), "call " + c);
            for (int i = 0; i < x.n(); i++) {
                indices++;
                if (x.index()[i] != y.index()[i]) {
                    double best = distance(x, i, x.index()[i]);
                    double theirs = distance(x, i, y.index()[i]);
                    if (theirs - best <= TIE * best) {
                        ties++;
                    } else {
                        others++;
                    }
                }
            }
        }
        System.out.printf("%s: %d assignNearest calls, %d indices, %d near ties (%.1e relative), %d other differences%n",
                method, cpu.calls.size(), indices, ties, TIE, others);
        assertTrue(indices > 10_000, method + ": only " + indices + " indices compared");
        assertEquals(0, others, method + ": differences that are not near ties");
        assertTrue(ties <= MAX_TIE_FRACTION * indices, method + ": " + ties + " near ties of " + indices);
        double pa = DeviceCliTest.ppl(a, "cpu").get("ppl").asDouble();
        double pb = DeviceCliTest.ppl(b, "cpu").get("ppl").asDouble();
        assertTrue(Math.abs(pb - pa) <= 1e-3 * pa, method + ": perplexity " + pb + " on opencl, " + pa + " on cpu");
    }

    /** The SPI's distance of vector i to centroid c (Backend#assignNearest: fma, weighted fma(w·diff, diff, acc)). */
    private static double distance(Call x, int i, int c) {
        float acc = 0;
        for (int j = 0; j < x.d(); j++) {
            float diff = x.codebook()[c * x.d() + j] - x.vectors()[i * x.d() + j];
            acc = x.weights() == null ? Math.fma(diff, diff, acc)
                    : Math.fma(x.weights()[i * x.d() + j] * diff, diff, acc);
        }
        return acc;
    }

    private static Path quantize(Path out, String method, Map<String, ?> options, Backend backend) {
        Path model = SharedData.stories260K();
        try (SourceModel src = SourceModel.open(model)) {
            QuantizeJob.run(src, new QuantizeJob.Options(model, SharedData.file("tinystories/tinystories_val.txt"),
                    ModelLoader.load(model, null).tokenizer(), QuantOptions.build(method, options), 4, 64, 0, out),
                    backend, new QuantizeJob.Listener() { });
        }
        return out;
    }

    /** A backend that runs another and records its assignNearest calls; everything else is the other's. */
    static final class Recording implements Backend {
        final Backend inner;
        final List<Call> calls = new ArrayList<>();

        Recording(Backend inner) {
            this.inner = inner;
        }

        @Override
        public void assignNearest(float[] vectors, float[] weights, int n, int d, float[] codebook, int k, int[] index,
                                  float[] distance) {
            inner.assignNearest(vectors, weights, n, d, codebook, k, index, distance);
            calls.add(new Call(vectors.clone(), weights == null ? null : weights.clone(), n, d, codebook.clone(), k,
                    Arrays.copyOf(index, n)));
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, float[] b,
                         float beta, float[] c) {
            inner.gemm(transA, transB, m, n, k, alpha, a, b, beta, c);
        }

        @Override
        public void accumulateCentroids(float[] vectors, float[] weights, int n, int d, int[] index, int k,
                                        double[] sums, double[] weightSums) {
            inner.accumulateCentroids(vectors, weights, n, d, index, k, sums, weightSums);
        }

        @Override
        public PackedWeights upload(PackedMatrix matrix) {
            return inner.upload(matrix);
        }

        @Override
        public void dequant(PackedWeights weights, float[] out) {
            inner.dequant(weights, out);
        }

        @Override
        public void dequantMatmul(PackedWeights weights, float[] x, int n, float[] y) {
            inner.dequantMatmul(weights, x, n, y);
        }

        @Override
        public ResidentMatrix resident(float[] values, int rows, int cols) {
            return inner.resident(values, rows, cols);
        }

        @Override
        public void read(ResidentMatrix m, int row, int col, int rows, int cols, float[] dst, int offset, int ld) {
            inner.read(m, row, col, rows, cols, dst, offset, ld);
        }

        @Override
        public void write(ResidentMatrix m, int row, int col, int rows, int cols, float[] src, int offset, int ld) {
            inner.write(m, row, col, rows, cols, src, offset, ld);
        }

        @Override
        public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, ResidentMatrix a, int aRow,
                         int aCol, ResidentMatrix b, int bRow, int bCol, float beta, ResidentMatrix c, int cRow,
                         int cCol) {
            inner.gemm(transA, transB, m, n, k, alpha, a, aRow, aCol, b, bRow, bCol, beta, c, cRow, cCol);
        }

        @Override
        public ForwardOps forwardOps() {
            return inner.forwardOps();
        }

        @Override
        public void accumulateGram(float[] x, int rows, int dim, double[] h) {
            inner.accumulateGram(x, rows, dim, h);
        }

        @Override
        public boolean inverseCholeskyUpper(double[] a, int n) {
            return inner.inverseCholeskyUpper(a, n);
        }

        @Override
        public void gptqBlock(ResidentMatrix w, int i1, int i2, double[] ub, int bits, int groupSize,
                              boolean symmetric, int[] codes, float[] scales, int[] zeros, ResidentMatrix err) {
            inner.gptqBlock(w, i1, i2, ub, bits, groupSize, symmetric, codes, scales, zeros, err);
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
