package io.vq4j.eval;

import io.vq4j.core.InputException;
import io.vq4j.model.KvCache;
import io.vq4j.model.LlamaModel;
import java.nio.file.Path;

import java.util.List;

/**
 * The project's fixed cut of a tokenized text into evaluation windows, written once for
 * perplexity and the model metrics: consecutive, non-overlapping windows of {@code ctx} tokens
 * (the last may be shorter), each run on its own from position 0 with every position's logits;
 * a window of len tokens scores the predictions of its tokens 1..len−1.
 */
public final class WindowLoop {
    private WindowLoop() {
    }

    /** One window's logits, one array (length × vocab, row-major) per model, in the models' order. */
    @FunctionalInterface
    public interface Visitor {
        void window(int index, int start, int length, float[][] logits);
    }

    /**
     * The model must have room for a token and the one it predicts (a config may say
     * max_position_embeddings 1, which left zero windows, or "--ctx: must be in 2..1"): the
     * model's limit named as the cause, in eval ppl, sweep and generate.
     */
    public static void checkModel(Path model, int maxSeqLen) {
        if (maxSeqLen < 2) {
            throw InputException.at(model, "the model's maximum sequence length (max_position_embeddings) is "
                    + maxSeqLen + ": no room for a token and its prediction (at least 2 positions)");
        }
    }

    /** The window length a user asked for must hold a prediction and fit the model: 2..maxSeqLen. */
    public static void checkCtx(int ctx, int maxSeqLen) {
        if (ctx < 2 || ctx > maxSeqLen) {
            throw new InputException("--ctx: must be in 2.." + maxSeqLen + " for this model, got " + ctx);
        }
    }

    /** How many windows a text of {@code tokens} tokens is cut into. */
    public static int count(int tokens, int ctx) {
        return (tokens + ctx - 1) / ctx;
    }

    /**
     * Runs each window of at least {@code minLength} tokens through every model (a KV cache per
     * model, cleared for each window) and hands their logits to the visitor, window by window.
     * Only the last window can be shorter than ctx, so a short one ends the loop.
     *
     * @return the nanoseconds spent in the models' forward passes
     */
    public static long run(List<LlamaModel> models, int[] ids, int ctx, int minLength, Visitor visitor) {
        KvCache[] caches = new KvCache[models.size()];
        for (int m = 0; m < caches.length; m++) {
            caches[m] = models.get(m).newCache(Math.min(ctx, ids.length));
        }
        long nanos = 0;
        int windows = count(ids.length, ctx);
        for (int w = 0; w < windows; w++) {
            int start = w * ctx;
            int len = Math.min(ctx, ids.length - start);
            if (len < minLength) {
                break;
            }
            float[][] logits = new float[caches.length][];
            for (int m = 0; m < caches.length; m++) {
                caches[m].clear();
                long t0 = System.nanoTime();
                logits[m] = models.get(m).forward(ids, start, len, caches[m], true);
                nanos += System.nanoTime() - t0;
            }
            visitor.window(w, start, len, logits);
        }
        for (KvCache c : caches) {
            c.close(); // a device cache's memory
        }
        return nanos;
    }

    /** The window's summed NLL: Σ −log softmax(logits row t)[ids[start + t + 1]] over t = 0..len−2, in order. */
    public static double nllSum(float[] logits, int[] ids, int start, int len, int vocab) {
        double sum = 0;
        for (int t = 0; t + 1 < len; t++) {
            sum += Perplexity.negLogSoftmax(logits, t * vocab, vocab, ids[start + t + 1]);
        }
        return sum;
    }
}
