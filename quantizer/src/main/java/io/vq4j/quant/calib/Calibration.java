package io.vq4j.quant.calib;

import io.vq4j.core.Parallel;
import io.vq4j.core.Phases;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.quant.core.HessianAccumulator;
import io.vq4j.quant.core.SharedFactors;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.quant.calib.CalibrationTarget.Group;
import io.vq4j.quant.calib.CalibrationTarget.Step;
import io.vq4j.quant.calib.CalibrationTarget.Weight;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The true-sequential calibration driver, for decoders and encoders alike (GPTQ's block-by-block
 * order, with its reference implementation's "true sequential" order inside a block): block
 * after block, step after step, the {@link CalibrationTarget} runs its calibration data through
 * the model as quantized so far; the driver sums each group's proxy Hessian H = 2/n Σ x xᵀ
 * ({@link HessianAccumulator}, dampened by spec.percdamp()), quantizes the group's linears with
 * it, and hands their dequantized weights back for the rest of the pass. Each layer is
 * reported with its H-weighted error, through the backend's gemm.
 */
public final class Calibration {
    private final LayerQuantizer quantizer;
    private final QuantSpec spec;
    private final Backend backend;
    private final long seed;

    /** Progress and results, in the order they happen. */
    public interface Listener {
        default void blockStarted(int block, int blocks) {
        }

        /** Before linear {@code layer} of {@code layers} in the block is quantized. */
        default void progress(int block, int blocks, int layer, int layers, String linear) {
        }

        default void layer(int block, CalibratedLayer layer) {
        }

        /** Every step of the block is quantized and its pass is over. */
        default void blockDone(int block) {
        }
    }

    /** @param seed the run's seed; each layer's mixes it with the layer's name ({@link LayerProblem#layerSeed}) */
    public Calibration(LayerQuantizer quantizer, QuantSpec spec, Backend backend, long seed) {
        this.quantizer = quantizer;
        this.spec = spec;
        this.backend = backend;
        this.seed = seed;
    }

    /** Calibrates and quantizes blocks {@code from ...} of the target (those before are quantized already). */
    public void run(CalibrationTarget target, int from, Listener listener) {
        int blocks = target.blocks();
        List<Step> steps = target.steps();
        int layers = 0;
        for (Step s : steps) {
            for (Group g : s.groups()) {
                layers += g.linears().size();
            }
        }
        for (int b = from; b < blocks; b++) {
            listener.blockStarted(b, blocks);
            BlockPass pass = new BlockPass(target, b, blocks, steps, layers, listener);
            long t = Phases.start();
            try {
                target.calibrate(b, pass); // phase "calib.block": everything below, the block's forward included
            } finally {
                pass.release(); // a step's sums left (device memory) when the block stopped early
            }
            Phases.stop("calib.block", t);
            if (pass.step != steps.size()) {
                throw new IllegalStateException("block " + b + ": " + pass.step + " of " + steps.size()
                        + " steps were quantized");
            }
            listener.blockDone(b);
        }
    }

    /** One block: the current step's accumulators and where the block stands. */
    private final class BlockPass implements CalibrationTarget.StepSink {
        private final CalibrationTarget target;
        private final int block;
        private final int blocks;
        private final List<Step> steps;
        private final int layers;
        private final Listener listener;
        private HessianAccumulator[] acc;
        private int step;
        private int layer;

        BlockPass(CalibrationTarget target, int block, int blocks, List<Step> steps, int layers, Listener listener) {
            this.target = target;
            this.block = block;
            this.blocks = blocks;
            this.steps = steps;
            this.layers = layers;
            this.listener = listener;
        }

        private HessianAccumulator[] accumulators() {
            if (step >= steps.size()) {
                throw new IllegalStateException("block " + block + " has only " + steps.size() + " steps");
            }
            if (acc == null) {
                List<Group> groups = steps.get(step).groups();
                acc = new HessianAccumulator[groups.size()];
                for (int i = 0; i < acc.length; i++) {
                    acc[i] = new HessianAccumulator(backend, groups.get(i).inputWidth());
                }
            }
            return acc;
        }

        /** Closes the current step's accumulators that are still open. */
        void release() {
            if (acc != null) {
                for (HessianAccumulator a : acc) {
                    if (a != null) {
                        a.close();
                    }
                }
                acc = null;
            }
        }

        @Override
        public void input(int group, float[] x, int rows) {
            long t = Phases.start();
            accumulators()[group].add(x, rows);
            Phases.stop("calib.hessian", t);
        }

        @Override
        public void input(int group, ResidentMatrix x, int rows, Backend owner) {
            if (owner != backend) { // not the calibration's backend: through the host
                CalibrationTarget.StepSink.super.input(group, x, rows, owner);
                return;
            }
            long t = Phases.start();
            accumulators()[group].add(x, rows);
            Phases.stop("calib.hessian", t);
        }

        @Override
        public Map<String, float[]> quantize() {
            HessianAccumulator[] a = accumulators();
            List<Group> groups = steps.get(step).groups();
            Map<String, float[]> out = new LinkedHashMap<>();
            for (int i = 0; i < groups.size(); i++) {
                long t = Phases.start();
                int w = a[i].dim();
                float[] hf = new float[Math.multiplyExact(w, w)];
                double[] h = a[i].hessian(spec.percdamp(), hf); // made in its double sums' array
                a[i] = null;
                Phases.stop("calib.hessian", t);
                try (SharedFactors f = SharedFactors.open()) { // one factor U for the group's shared H
                    for (String linear : groups.get(i).linears()) {
                        listener.progress(block, blocks, layer++, layers, linear);
                        CalibratedLayer l = quantizeLayer(target, block, linear, h, hf);
                        listener.layer(block, l);
                        out.put(linear, l.dequantized());
                    }
                }
            }
            acc = null;
            step++;
            return out;
        }
    }

    private CalibratedLayer quantizeLayer(CalibrationTarget target, int block, String linear, double[] h,
                                          float[] hf) {
        String name = target.name(block, linear);
        long tw = Phases.start();
        Weight w = target.weight(linear);
        Phases.stop("calib.weight", tw); // the layer's own copy of its weights for the quantizer
        long t0 = System.nanoTime();
        long tq = Phases.start();
        PackedMatrix q = quantizer.quantize(new LayerProblem(name, w.values(), w.rows(), w.cols(),
                quantizer.needsHessian() ? h : null, spec, backend, LayerProblem.layerSeed(seed, name),
                target.sharedCodebook(linear), quantizer.needsHessian() ? hf : null));
        double seconds = (System.nanoTime() - t0) / 1e9;
        Phases.stop("calib.quantize", tq);
        long t1 = Phases.start();
        long th = Phases.start(); // phase "calib.report-host": the host's part of the report (inside report-error)
        float[] wq = q.dequantize();
        float[] delta = new float[wq.length];
        float[] wv = w.values();
        Parallel.forChunks(0, delta.length, 1 << 16, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                delta[i] = wv[i] - wq[i];
            }
        });
        Phases.stop("calib.report-host", th);
        double[] e = quadratic(hf, w.rows(), w.cols(), backend, delta, w.values());
        double err = e[0];
        double ref = e[1];
        Phases.stop("calib.report-error", t1);
        return new CalibratedLayer(name, linear, q, wq, w.rows(), w.cols(), err, ref == 0 ? 0 : err / ref, seconds);
    }

    /** tr(A H Aᵀ) for A rows × cols and H cols × cols (float): {@link #quadratic(float[], int, int, Backend, float[]...)}. */
    public static double quadratic(float[] a, float[] hf, int rows, int cols, Backend backend) {
        return quadratic(hf, rows, cols, backend, a)[0];
    }

    /**
     * tr(A H Aᵀ) for each A (rows × cols) and H cols × cols (float). A Hessian is symmetric bit for
     * bit: then the backend's quadraticForms, which may use the symmetry (the CPU's computes half the
     * products: the report's two forms were its largest phase at Llama-2-7B shapes). An H that is not
     * symmetric goes through the backend's gemm as it is, each a_ri·(AH)_ri summed in double.
     */
    public static double[] quadratic(float[] hf, int rows, int cols, Backend backend, float[]... as) {
        if (LayerProblem.symmetric(hf, cols)) {
            return backend.quadraticForms(hf, cols, rows, as);
        }
        double[] q = new double[as.length];
        float[] ah = new float[rows * cols];
        for (int i = 0; i < as.length; i++) {
            backend.gemm(false, false, rows, cols, cols, 1f, as[i], hf, 0f, ah);
            double s = 0;
            for (int j = 0; j < ah.length; j++) {
                s += (double) as[i][j] * ah[j];
            }
            q[i] = s;
        }
        return q;
    }
}
