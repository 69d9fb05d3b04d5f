package io.vq4j.eval.metrics;

import io.vq4j.core.InputException;
import io.vq4j.eval.Perplexity;
import io.vq4j.eval.WindowLoop;
import io.vq4j.kernels.cpu.ForwardKernels;
import io.vq4j.model.LlamaModel;

import java.util.List;

/**
 * Stacked comparison of a quantized model against the unquantized one on real text, window
 * by window as perplexity cuts it ({@link WindowLoop}): at every scored position, the KL
 * divergence KL(P_ref ‖ P_quant) of the next-token distributions (softmax in double) and
 * whether both put the same token first.
 */
public final class ModelMetrics {
    private ModelMetrics() {
    }

    /**
     * @param meanKl        mean over positions of Σ_v p_ref(v) (log p_ref(v) − log p_quant(v)), in nats
     * @param top1Agreement fraction of positions whose argmax tokens agree (ties: the lowest id)
     * @param positions     positions compared (tokens 0..len−2 of every window)
     * @param referenceNll  the reference model's mean NLL of the next tokens over those positions
     * @param quantizedNll  the quantized model's; with the same windows and sums as
     *                      {@link Perplexity}, so exp of it is the same perplexity
     */
    public record Result(double meanKl, double top1Agreement, long positions, double referenceNll,
                         double quantizedNll) {
        public double referencePpl() {
            return Math.exp(referenceNll);
        }

        public double quantizedPpl() {
            return Math.exp(quantizedNll);
        }
    }

    public static Result compare(LlamaModel reference, LlamaModel quantized, int[] ids, int ctx) {
        int vocab = reference.config().vocabSize();
        if (quantized.config().vocabSize() != vocab) {
            throw new InputException("the models have vocabularies of " + vocab + " and "
                    + quantized.config().vocabSize() + " tokens");
        }
        if (ctx < 2 || ids.length < 2) {
            throw new InputException("KL needs a window of at least 2 tokens and a text of at least 2; got ctx " + ctx
                    + " and " + ids.length + " token(s)");
        }
        double[] sums = new double[3]; // KL, reference NLL, quantized NLL
        long[] counts = new long[2]; // agreeing positions, positions
        WindowLoop.run(List.of(reference, quantized), ids, ctx, 2, (w, start, len, logits) -> {
            float[] p = logits[0];
            float[] q = logits[1];
            double sumRef = WindowLoop.nllSum(p, ids, start, len, vocab);
            double sumQuant = WindowLoop.nllSum(q, ids, start, len, vocab);
            for (int t = 0; t + 1 < len; t++) {
                sums[0] += kl(p, q, t * vocab, vocab);
                if (argmax(p, t * vocab, vocab) == argmax(q, t * vocab, vocab)) {
                    counts[0]++;
                }
                counts[1]++;
            }
            sums[1] += sumRef;
            sums[2] += sumQuant;
        });
        double kl = sums[0];
        long agree = counts[0];
        long positions = counts[1];
        double nllRef = sums[1];
        double nllQuant = sums[2];
        return new Result(kl / positions, (double) agree / positions, positions, nllRef / positions,
                nllQuant / positions);
    }

    /** KL(softmax(p) ‖ softmax(q)) over logits[from .. from+n), in double. */
    public static double kl(float[] p, float[] q, int from, int n) {
        return ForwardKernels.kl(p, q, from, n);
    }

    static int argmax(float[] x, int from, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (x[from + i] > x[from + best]) {
                best = i;
            }
        }
        return best;
    }
}
