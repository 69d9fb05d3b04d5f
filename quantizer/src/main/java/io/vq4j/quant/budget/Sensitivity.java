package io.vq4j.quant.budget;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.quant.Methods;
import io.vq4j.quant.calib.CalibratedLayer;
import io.vq4j.quant.calib.Calibration;
import io.vq4j.quant.calib.CalibrationTarget;
import io.vq4j.quant.job.QuantizeJob;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.method.QuantSpec;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The measuring pass of --target-bpw: one calibration pass over the <em>unquantized</em> model
 * (every layer's Hessian H from its real inputs), every candidate on every layer. Per layer and
 * candidate it keeps the packed layer's exact bytes (as the report and vq inspect count them)
 * and the predicted loss, the H-weighted error tr((W−Q) H (W−Q)ᵀ): the sweep's Spearman analysis
 * found it (with the real-activation cosine) the per-tensor metric that best predicts the stacked
 * result, and it adds over layers as the allocator needs. Cost: one forward pass and, per layer,
 * one quantization per candidate. Memory: every candidate's packed layers (kept for the exact
 * file size of a choice).
 */
public final class Sensitivity {
    private Sensitivity() {
    }

    /** One layer: its block, shape, and per candidate the packed layer, its bytes and its predicted loss. */
    public record Layer(String name, int block, int rows, int cols, PackedMatrix[] packed, long[] bytes, double[] loss) {
    }

    public static List<Layer> measure(CalibrationTarget target, List<Candidate> candidates, QuantSpec damping,
                                      Backend backend, long seed) {
        List<Layer> out = new ArrayList<>();
        LayerQuantizer all = new LayerQuantizer() {
            @Override
            public String name() {
                return "candidates";
            }

            @Override
            public boolean needsHessian() {
                return true; // for the H-weighted error, whatever the candidates need
            }

            @Override
            public void validate(QuantSpec spec, int rows, int cols) {
            }

            @Override
            public PackedMatrix quantize(LayerProblem p) {
                int n = candidates.size();
                PackedMatrix[] packed = new PackedMatrix[n];
                long[] bytes = new long[n];
                double[] loss = new double[n];
                float[] hf = new float[p.hessian().length];
                for (int i = 0; i < hf.length; i++) {
                    hf[i] = (float) p.hessian()[i];
                }
                for (int j = 0; j < n; j++) {
                    QuantSpec s = candidates.get(j).spec();
                    LayerQuantizer q = Methods.forName(s.method());
                    packed[j] = q.quantize(new LayerProblem(p.name(), p.weight().clone(), p.rows(), p.cols(),
                            q.needsHessian() ? p.hessian().clone() : null, s, p.backend(), p.seed(), null,
                            q.needsHessian() ? hf : null));
                    float[] wq = packed[j].dequantize();
                    float[] delta = new float[wq.length];
                    for (int i = 0; i < delta.length; i++) {
                        delta[i] = p.weight()[i] - wq[i];
                    }
                    loss[j] = Calibration.quadratic(delta, hf, p.rows(), p.cols(), p.backend());
                    bytes[j] = QuantizeJob.layerBytes(p.name(), packed[j]);
                }
                out.add(new Layer(p.name(), -1, p.rows(), p.cols(), packed, bytes, loss));
                return packed[0];
            }
        };
        List<Layer> withBlocks = new ArrayList<>();
        new Calibration(all, damping, backend, seed).run(new Unquantized(target), 0, new Calibration.Listener() {
            @Override
            public void layer(int block, CalibratedLayer l) {
                Layer m = out.getLast();
                withBlocks.add(new Layer(m.name(), block, m.rows(), m.cols(), m.packed(), m.bytes(), m.loss()));
            }
        });
        return withBlocks;
    }

    /** The target with every step's weights handed back unquantized: each layer is measured on the original model's inputs. */
    private record Unquantized(CalibrationTarget inner) implements CalibrationTarget {
        @Override
        public int blocks() {
            return inner.blocks();
        }

        @Override
        public List<Step> steps() {
            return inner.steps();
        }

        @Override
        public String name(int block, String linear) {
            return inner.name(block, linear);
        }

        @Override
        public Weight weight(String linear) {
            return inner.weight(linear);
        }

        @Override
        public void calibrate(int block, StepSink sink) {
            int[] step = {0};
            inner.calibrate(block, new StepSink() {
                @Override
                public void input(int group, float[] x, int rows) {
                    sink.input(group, x, rows);
                }

                @Override
                public Map<String, float[]> quantize() {
                    Map<String, float[]> original = new LinkedHashMap<>();
                    for (Group g : inner.steps().get(step[0]++).groups()) {
                        for (String linear : g.linears()) {
                            original.put(linear, inner.weight(linear).values());
                        }
                    }
                    sink.quantize();
                    return original;
                }
            });
        }
    }

    /**
     * The same layers with the predicted loss of every candidate replaced by its stacked effect
     * ({@link StackedProbe}: the model with only that layer quantized so, against the unquantized model).
     */
    public static List<Layer> stacked(List<Layer> layers, StackedProbe probe) {
        List<Layer> out = new ArrayList<>();
        for (Layer l : layers) {
            double[] loss = new double[l.packed().length];
            for (int j = 0; j < loss.length; j++) {
                loss[j] = probe.loss(l.name(), l.packed()[j].dequantize());
            }
            out.add(new Layer(l.name(), l.block(), l.rows(), l.cols(), l.packed(), l.bytes(), loss));
        }
        return out;
    }
}
