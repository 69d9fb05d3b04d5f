package io.vq4j.quant.calib;

import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.quant.Specs;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.Methods;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.quant.calib.CalibrationTarget.Group;
import io.vq4j.quant.calib.CalibrationTarget.Step;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The driver on a toy model whose inputs are known: Hessians, order, seeds, errors, hand-back. */
class CalibrationTest {
    private static final int ROWS = 4;

    /**
     * Two blocks; step 0: a and b share a 3-wide input; step 1: c (2 wide) and d (3 wide) each
     * their own. Step 1's inputs depend on the weights handed back for a, as a real pass would.
     */
    private static final class Toy implements CalibrationTarget {
        final Map<String, float[]> weights = new LinkedHashMap<>();
        final Map<String, float[]> handedBack = new LinkedHashMap<>();
        final Map<String, List<float[]>> inputs = new LinkedHashMap<>();
        int block;
        boolean skipLastStep;

        Toy() {
            SplittableRandom r = new SplittableRandom(1);
            for (String l : List.of("a", "b", "c", "d")) {
                float[] w = new float[ROWS * (l.equals("c") ? 2 : 3)];
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) (r.nextDouble() * 2 - 1);
                }
                weights.put(l, w);
            }
        }

        @Override
        public int blocks() {
            return 2;
        }

        @Override
        public List<Step> steps() {
            return List.of(new Step(List.of(new Group(List.of("a", "b"), 3))),
                    new Step(List.of(new Group(List.of("c"), 2), new Group(List.of("d"), 3))));
        }

        @Override
        public String name(int b, String linear) {
            return "blk" + b + "." + linear;
        }

        @Override
        public Weight weight(String linear) {
            float[] w = weights.get(linear);
            return new Weight(w, ROWS, w.length / ROWS);
        }

        private void give(String key, int group, float[] x, int rows, StepSink sink) {
            inputs.computeIfAbsent(key, k -> new ArrayList<>()).add(x.clone());
            sink.input(group, x, rows);
        }

        @Override
        public void calibrate(int b, StepSink sink) {
            block = b;
            give(b + ".ab", 0, new float[]{1, 2, 3, 0, 1, -1}, 2, sink);
            give(b + ".ab", 0, new float[]{2, 0, 1}, 1, sink);
            Map<String, float[]> q = sink.quantize();
            handedBack.putAll(prefixed(b, q));
            if (skipLastStep) {
                return;
            }
            float[] a = q.get("a");
            give(b + ".c", 0, new float[]{a[0], 1, 2, a[1], -1, 0.5f}, 3, sink);
            give(b + ".d", 1, new float[]{1, 1, b, 0, 2, 1}, 2, sink);
            handedBack.putAll(prefixed(b, sink.quantize()));
        }

        private static Map<String, float[]> prefixed(int b, Map<String, float[]> q) {
            Map<String, float[]> out = new LinkedHashMap<>();
            q.forEach((k, v) -> out.put(b + "." + k, v));
            return out;
        }
    }

    /** H = 2/n Σ x xᵀ, zero diagonals set to 1, then + percdamp · mean(diag) · I, in double. */
    private static double[] hessian(List<float[]> batches, int dim, double percdamp) {
        double[] h = new double[dim * dim];
        int n = 0;
        for (float[] x : batches) {
            for (int r = 0; r < x.length / dim; r++, n++) {
                for (int i = 0; i < dim; i++) {
                    for (int j = 0; j < dim; j++) {
                        h[i * dim + j] += (double) x[r * dim + i] * x[r * dim + j];
                    }
                }
            }
        }
        double mean = 0;
        for (int i = 0; i < h.length; i++) {
            h[i] *= 2.0 / n;
        }
        for (int i = 0; i < dim; i++) {
            if (h[i * dim + i] == 0) {
                h[i * dim + i] = 1;
            }
            mean += h[i * dim + i];
        }
        for (int i = 0; i < dim; i++) {
            h[i * dim + i] += percdamp * mean / dim;
        }
        return h;
    }

    private static double quadratic(float[] w, float[] q, double[] h, int cols) {
        double s = 0;
        for (int r = 0; r < ROWS; r++) {
            for (int i = 0; i < cols; i++) {
                for (int j = 0; j < cols; j++) {
                    s += (w[r * cols + i] - (q == null ? 0 : q[r * cols + i])) * h[i * cols + j]
                            * (w[r * cols + j] - (q == null ? 0 : q[r * cols + j]));
                }
            }
        }
        return s;
    }

    @Test
    void eachGroupGetsItsOwnHessianTheLayersComeInOrderAndTheirWeightsGoBack() {
        QuantSpec spec = Specs.of("rtn");
        LayerQuantizer rtn = Methods.forName("rtn");
        List<LayerProblem> problems = new ArrayList<>();
        LayerQuantizer recording = new LayerQuantizer() {
            @Override
            public String name() {
                return rtn.name();
            }

            @Override
            public boolean needsHessian() {
                return true;
            }

            @Override
            public void validate(QuantSpec s, int rows, int cols) {
                rtn.validate(s, rows, cols);
            }

            @Override
            public PackedMatrix quantize(LayerProblem p) {
                problems.add(p);
                return rtn.quantize(p);
            }
        };
        Toy toy = new Toy();
        List<String> events = new ArrayList<>();
        List<CalibratedLayer> layers = new ArrayList<>();
        new Calibration(recording, spec, new CpuBackend(), 42).run(toy, 0, new Calibration.Listener() {
            @Override
            public void blockStarted(int block, int blocks) {
                events.add("start " + block + "/" + blocks);
            }

            @Override
            public void progress(int block, int blocks, int layer, int total, String linear) {
                events.add(block + " " + layer + "/" + total + " " + linear);
            }

            @Override
            public void layer(int block, CalibratedLayer l) {
                layers.add(l);
            }

            @Override
            public void blockDone(int block) {
                events.add("done " + block);
            }
        });
        assertEquals(List.of("start 0/2", "0 0/4 a", "0 1/4 b", "0 2/4 c", "0 3/4 d", "done 0",
                "start 1/2", "1 0/4 a", "1 1/4 b", "1 2/4 c", "1 3/4 d", "done 1"), events);
        assertEquals(8, problems.size());
        for (int i = 0; i < problems.size(); i++) {
            LayerProblem p = problems.get(i);
            CalibratedLayer l = layers.get(i);
            int b = i / 4;
            String linear = List.of("a", "b", "c", "d").get(i % 4);
            assertEquals("blk" + b + "." + linear, p.name());
            assertEquals(p.name(), l.name());
            assertEquals(linear, l.linear());
            assertEquals(LayerProblem.layerSeed(42, p.name()), p.seed());
            assertSame(toy.weights.get(linear), p.weight());
            String key = b + "." + (linear.equals("a") || linear.equals("b") ? "ab" : linear);
            double[] h = hessian(toy.inputs.get(key), p.cols(), spec.percdamp());
            assertArrayEquals(h, p.hessian(), 1e-5, p.name());
            float[] wq = l.packed().dequantize();
            assertArrayEquals(wq, l.dequantized(), p.name());
            assertArrayEquals(wq, toy.handedBack.get(b + "." + linear), "handed back: " + p.name());
            double err = quadratic(p.weight(), wq, h, p.cols());
            assertEquals(err, l.hessianError(), 1e-4 * Math.max(1, err));
            assertEquals(err / quadratic(p.weight(), null, h, p.cols()), l.relativeError(), 1e-4);
        }
        // a and b share one Hessian; c's input carries the weight handed back for a
        assertArrayEquals(problems.get(0).hessian(), problems.get(1).hessian());
        assertEquals(toy.handedBack.get("0.a")[0], toy.inputs.get("0.c").getFirst()[0]);
    }

    @Test
    void aResumedRunStartsAtItsBlockAndAPassThatSkipsAStepFails() {
        QuantSpec spec = Specs.of("rtn");
        Calibration c = new Calibration(Methods.forName("rtn"), spec, new CpuBackend(), 1);
        Toy toy = new Toy();
        List<Integer> started = new ArrayList<>();
        c.run(toy, 1, new Calibration.Listener() {
            @Override
            public void blockStarted(int block, int blocks) {
                started.add(block);
            }
        });
        assertEquals(List.of(1), started);
        Toy skipping = new Toy();
        skipping.skipLastStep = true;
        assertThrows(IllegalStateException.class, () -> c.run(skipping, 0, new Calibration.Listener() { }));
    }

    /**
     * The report's tr(A H Aᵀ): a symmetric H goes to the backend's quadraticForms (on the CPU, half
     * the products) and is within the SPI's bound of the exact value; an H that is not symmetric is
     * the plain gemm's product as it is, to the bit.
     */
    @Test
    void theQuadraticOfASymmetricHIsTheBackendsFormAndOtherwiseThePlainGemm() {
        int rows = 37;
        int cols = 70; // more than one vector panel, not a multiple of the lanes
        SplittableRandom r = new SplittableRandom(5);
        float[] a = new float[rows * cols];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        float[] h = new float[cols * cols];
        for (int i = 0; i < cols; i++) {
            for (int j = 0; j <= i; j++) {
                float v = (float) r.nextGaussian() + (i == j ? cols : 0);
                h[i * cols + j] = v;
                h[j * cols + i] = v;
            }
        }
        CpuBackend cpu = new CpuBackend();
        double q = Calibration.quadratic(a, h, rows, cols, cpu);
        assertEquals(cpu.quadraticForms(h, cols, rows, a)[0], q, 0.0);
        double exact = 0, mag = 0;
        for (int x = 0; x < rows; x++) {
            for (int i = 0; i < cols; i++) {
                for (int j = 0; j < cols; j++) {
                    double t = (double) a[x * cols + i] * h[i * cols + j] * a[x * cols + j];
                    exact += t;
                    mag += Math.abs(t);
                }
            }
        }
        assertEquals(exact, q, (cols + 2) * Math.scalb(1.0, -24) * mag);
        h[3 * cols + 1] += 0.5f; // no longer symmetric: given as it is, the plain product
        assertEquals(plain(a, h, rows, cols, cpu), Calibration.quadratic(a, h, rows, cols, cpu), 0.0);
    }

    private static double plain(float[] a, float[] h, int rows, int cols, CpuBackend cpu) {
        float[] ah = new float[rows * cols];
        cpu.gemm(false, false, rows, cols, cols, 1f, a, h, 0f, ah);
        double s = 0;
        for (int i = 0; i < ah.length; i++) {
            s += (double) a[i] * ah[i];
        }
        return s;
    }
}
