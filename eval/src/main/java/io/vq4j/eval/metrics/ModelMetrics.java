package io.vq4j.eval.metrics;

import io.vq4j.core.InputException;
import io.vq4j.eval.Perplexity;
import io.vq4j.eval.WindowLoop;
import io.vq4j.kernels.cpu.ForwardKernels;
import io.vq4j.model.LlamaModel;

import java.util.ArrayList;
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
        check(reference, quantized, ids, ctx);
        Sums sums = new Sums(reference.config().vocabSize(), ids);
        WindowLoop.run(List.of(reference, quantized), ids, ctx, 2, (w, start, len, logits) ->
                sums.window(logits[0], WindowLoop.nllSum(logits[0], ids, start, len, sums.vocab), logits[1], start, len));
        return sums.result();
    }

    /**
     * The reference model's side of {@link #compare}, computed once for many quantized models
     * (a sweep): every window's logits and NLL sum, as compare computes them. It holds
     * positions × vocab floats; {@link #referenceBytes} says how many bytes before it is made.
     */
    public static final class Reference {
        private final LlamaModel model;
        private final int[] ids;
        private final int ctx;
        private final List<float[]> logits = new ArrayList<>();
        private final List<Double> nllSums = new ArrayList<>();

        private Reference(LlamaModel model, int[] ids, int ctx) {
            this.model = model;
            this.ids = ids;
            this.ctx = ctx;
        }
    }

    /** What a {@link Reference} of this text would hold, in bytes (its logits). */
    public static long referenceBytes(LlamaModel reference, int tokens) {
        return (long) tokens * reference.config().vocabSize() * Float.BYTES;
    }

    /** Runs the reference model over the windows once and keeps what every {@link #compare(Reference, LlamaModel)} needs. */
    public static Reference reference(LlamaModel reference, int[] ids, int ctx) {
        check(reference, reference, ids, ctx);
        int vocab = reference.config().vocabSize();
        Reference r = new Reference(reference, ids, ctx);
        WindowLoop.run(List.of(reference), ids, ctx, 2, (w, start, len, logits) -> {
            r.logits.add(logits[0]);
            r.nllSums.add(WindowLoop.nllSum(logits[0], ids, start, len, vocab));
        });
        return r;
    }

    /**
     * {@link #compare(LlamaModel, LlamaModel, int[], int)} against a reference computed once:
     * the same windows, the same sums in the same order, so the same numbers, bit for bit,
     * with one forward pass per window instead of two.
     */
    public static Result compare(Reference reference, LlamaModel quantized) {
        check(reference.model, quantized, reference.ids, reference.ctx);
        int[] ids = reference.ids;
        Sums sums = new Sums(reference.model.config().vocabSize(), ids);
        WindowLoop.run(List.of(quantized), ids, reference.ctx, 2, (w, start, len, logits) ->
                sums.window(reference.logits.get(w), reference.nllSums.get(w), logits[0], start, len));
        return sums.result();
    }

    private static void check(LlamaModel reference, LlamaModel quantized, int[] ids, int ctx) {
        int vocab = reference.config().vocabSize();
        if (quantized.config().vocabSize() != vocab) {
            throw new InputException("the models have vocabularies of " + vocab + " and "
                    + quantized.config().vocabSize() + " tokens");
        }
        if (ctx < 2 || ids.length < 2) {
            throw new InputException("KL needs a window of at least 2 tokens and a text of at least 2; got ctx " + ctx
                    + " and " + ids.length + " token(s)");
        }
    }

    /** compare's running sums, window by window. */
    private static final class Sums {
        final int vocab;
        final int[] ids;
        double kl;
        double nllRef;
        double nllQuant;
        long agree;
        long positions;

        Sums(int vocab, int[] ids) {
            this.vocab = vocab;
            this.ids = ids;
        }

        /** One window: the reference's logits p and NLL sum, the quantized model's logits q. */
        void window(float[] p, double sumRef, float[] q, int start, int len) {
            double sumQuant = WindowLoop.nllSum(q, ids, start, len, vocab);
            for (int t = 0; t + 1 < len; t++) {
                kl += kl(p, q, t * vocab, vocab);
                if (argmax(p, t * vocab, vocab) == argmax(q, t * vocab, vocab)) {
                    agree++;
                }
                positions++;
            }
            nllRef += sumRef;
            nllQuant += sumQuant;
        }

        Result result() {
            return new Result(kl / positions, (double) agree / positions, positions, nllRef / positions,
                    nllQuant / positions);
        }
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
