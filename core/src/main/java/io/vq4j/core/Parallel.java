package io.vq4j.core;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;
import java.util.function.IntConsumer;

/**
 * The one place that splits work across threads. Work is cut into fixed chunks that do not
 * depend on timing, so results that each chunk writes to its own slots are deterministic.
 * The thread count is {@code -Dvq.threads=N} or the number of available processors.
 */
public final class Parallel {
    private static final int THREADS = Integer.getInteger("vq.threads",
            Runtime.getRuntime().availableProcessors());
    private static final ForkJoinPool POOL = THREADS > 1 ? new ForkJoinPool(THREADS) : null;

    private Parallel() {
    }

    public static int threads() {
        return THREADS;
    }

    /** Runs {@code body.accept(i)} for every i in [from, to), in parallel. */
    public static void forEach(int from, int to, IntConsumer body) {
        forChunks(from, to, 1, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                body.accept(i);
            }
        });
    }

    /** A range [lo, hi) of work. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int lo, int hi);
    }

    /**
     * Cuts [from, to) into about 4 chunks per thread, each at least {@code minChunk} long,
     * and runs them in parallel. Runs inline when there is one chunk or one thread.
     */
    public static void forChunks(int from, int to, int minChunk, RangeBody body) {
        int n = to - from;
        if (n <= 0) {
            return;
        }
        int chunks = Math.max(1, Math.min(THREADS * 4, n / Math.max(1, minChunk)));
        if (chunks == 1 || POOL == null || ForkJoinTask.getPool() == POOL) {
            body.run(from, to);
            return;
        }
        POOL.invoke(new Split(from, n, chunks, 0, chunks, body));
    }

    private static final class Split extends RecursiveAction {
        private final int from, n, chunks, c0, c1;
        private final RangeBody body;

        Split(int from, int n, int chunks, int c0, int c1, RangeBody body) {
            this.from = from;
            this.n = n;
            this.chunks = chunks;
            this.c0 = c0;
            this.c1 = c1;
            this.body = body;
        }

        @Override
        protected void compute() {
            if (c1 - c0 == 1) {
                int lo = from + (int) ((long) n * c0 / chunks);
                int hi = from + (int) ((long) n * c1 / chunks);
                body.run(lo, hi);
                return;
            }
            int mid = (c0 + c1) >>> 1;
            invokeAll(new Split(from, n, chunks, c0, mid, body), new Split(from, n, chunks, mid, c1, body));
        }
    }
}
