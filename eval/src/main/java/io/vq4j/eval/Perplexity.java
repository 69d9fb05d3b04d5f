package io.vq4j.eval;

import io.vq4j.core.InputException;
import io.vq4j.kernels.cpu.ForwardKernels;
import io.vq4j.model.KvCache;
import io.vq4j.model.LlamaModel;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntBinaryOperator;

/**
 * Perplexity by the project's fixed method, so numbers compare across models and runs: the
 * text is tokenized once with BOS only at the very start; the ids are cut into consecutive,
 * non-overlapping windows of {@code ctx} tokens (the last may be shorter); each window runs
 * on its own from position 0 ({@link WindowLoop}); the mean NLL is taken over the predictions
 * of tokens 1..len-1 of every window; ppl = exp(mean NLL). Log-softmax and sums are in double,
 * in a fixed order.
 */
public final class Perplexity {
    private Perplexity() {
    }

    /** NLL of one window: its length, the number of scored predictions, and their summed NLL. */
    public record Window(int start, int length, int predictions, double nllSum) {
        public double meanNll() {
            return predictions == 0 ? Double.NaN : nllSum / predictions;
        }
    }

    public record Result(double ppl, double meanNll, int nTokens, int nPredictions, int ctx,
                         List<Window> windows, double seconds) {
        /** Tokens run through the model per second of forward-pass time. */
        public double tokensPerSecond() {
            return nTokens / seconds;
        }
    }

    /**
     * @param progress called after each window with (windows done, windows total); may be null
     */
    public static Result evaluate(LlamaModel model, int[] ids, int ctx, IntBinaryOperator progress) {
        if (ctx < 2) {
            throw new InputException("--ctx: must be at least 2, got " + ctx);
        }
        if (ids.length < 2) {
            throw new InputException("text: gives " + ids.length + " token(s); perplexity needs at least 2");
        }
        int vocab = model.config().vocabSize();
        int windows = WindowLoop.count(ids.length, ctx);
        List<Window> out = new ArrayList<>(windows);
        double[] nll = {0};
        int[] predictions = {0};
        if (model.runsOnDevice()) {
            return onDevice(model, ids, ctx, progress);
        }
        long nanos = WindowLoop.run(List.of(model), ids, ctx, 1, (w, start, len, logits) -> {
            double sum = WindowLoop.nllSum(logits[0], ids, start, len, vocab);
            out.add(new Window(start, len, len - 1, sum));
            nll[0] += sum;
            predictions[0] += len - 1;
            if (progress != null) {
                progress.applyAsInt(w + 1, windows);
            }
        });
        double mean = nll[0] / predictions[0];
        return new Result(Math.exp(mean), mean, ids.length, predictions[0], ctx, List.copyOf(out),
                nanos / 1e9);
    }

    /**
     * The same windows on a device forward ({@link LlamaModel#runsOnDevice}): each window's
     * per-token NLLs (floats, computed on the device) are all that comes back, summed here in
     * double in order.
     */
    private static Result onDevice(LlamaModel model, int[] ids, int ctx, IntBinaryOperator progress) {
        int windows = WindowLoop.count(ids.length, ctx);
        List<Window> out = new ArrayList<>(windows);
        double nll = 0;
        int predictions = 0;
        long nanos = 0;
        try (KvCache cache = model.newCache(Math.min(ctx, ids.length))) {
            for (int w = 0; w < windows; w++) {
                int start = w * ctx;
                int len = Math.min(ctx, ids.length - start);
                long t0 = System.nanoTime();
                float[] window = model.windowNll(ids, start, len, cache);
                nanos += System.nanoTime() - t0;
                double sum = 0;
                for (float x : window) {
                    sum += x;
                }
                out.add(new Window(start, len, len - 1, sum));
                nll += sum;
                predictions += len - 1;
                if (progress != null) {
                    progress.applyAsInt(w + 1, windows);
                }
            }
        }
        double mean = nll / predictions;
        return new Result(Math.exp(mean), mean, ids.length, predictions, ctx, List.copyOf(out), nanos / 1e9);
    }

    /** -log softmax(logits[from .. from+n))[target], in double. */
    public static double negLogSoftmax(float[] logits, int from, int n, int target) {
        return logSumExp(logits, from, n) - logits[from + target];
    }

    /** log Σ exp(logits[from .. from+n)), in double, shifted by the maximum. */
    public static double logSumExp(float[] logits, int from, int n) {
        return ForwardKernels.logSumExp(logits, from, n);
    }
}
