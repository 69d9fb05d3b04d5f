package io.vq4j.quant.core;

import io.vq4j.core.Parallel;
import io.vq4j.core.Phases;
import io.vq4j.kernels.Backend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;

/**
 * One factorisation per Hessian while several layers use it: q/k/v share one H and gate/up
 * another, so a block needs 4 factors U (UᵀU = H⁻¹), not 7. Inside a scope opened by
 * {@link #open} on the calling thread, {@link Linalg#inverseCholeskyUpperDamped} returns the U it
 * already computed when it is given the same H again: the same n, the same backend and a matrix
 * equal bit for bit to the one factored (checked exactly, {@link Arrays#equals}, and by a hash of
 * the bits taken when it was factored, so a caller that changed its array since is not served
 * the old U). Equal input, so the U returned is the one a fresh factorisation would give, damping
 * and dead columns included. Without an open scope nothing is kept.
 *
 * <p>The scope holds each U it computed (and a reference to the H it came from) until it closes;
 * callers open it around one group of layers that share a Hessian. The U handed out is shared: the
 * quantizers only read it.
 */
public final class SharedFactors implements AutoCloseable {
    private static final ThreadLocal<SharedFactors> CURRENT = new ThreadLocal<>();

    private record Entry(Backend backend, int n, double[] h, long hash, double[] u) {
    }

    private final List<Entry> entries = new ArrayList<>();
    private final SharedFactors outer;
    private int hits;

    private SharedFactors(SharedFactors outer) {
        this.outer = outer;
    }

    /** Opens a scope on this thread (closing it restores the scope that was open before, if any). */
    public static SharedFactors open() {
        SharedFactors s = new SharedFactors(CURRENT.get());
        CURRENT.set(s);
        return s;
    }

    /** How many factorisations this scope saved so far. */
    public int hits() {
        return hits;
    }

    @Override
    public void close() {
        entries.clear();
        if (outer == null) {
            CURRENT.remove();
        } else {
            CURRENT.set(outer);
        }
    }

    /** The factor that {@code compute} gives for h (n×n), computed once per equal H in the open scope. */
    static double[] factor(Backend backend, double[] h, int n, Supplier<double[]> compute) {
        SharedFactors s = CURRENT.get();
        if (s == null) {
            return computed(compute);
        }
        long hash = hash(h, n);
        for (Entry e : s.entries) {
            if (e.backend == backend && e.n == n && e.hash == hash && Arrays.equals(e.h, 0, n * n, h, 0, n * n)) {
                s.hits++;
                return e.u;
            }
        }
        double[] u = computed(compute);
        s.entries.add(new Entry(backend, n, h, hash, u));
        return u;
    }

    /** Phase "linalg.factor-computed": its call count is the number of factorisations actually done. */
    private static double[] computed(Supplier<double[]> compute) {
        long t = Phases.start();
        double[] u = compute.get();
        Phases.stop("linalg.factor-computed", t);
        return u;
    }

    /** Elements per chunk of the hash: part of its definition (the chunks' hashes are combined in order). */
    private static final int HASH_CHUNK = 1 << 18;

    /**
     * A 64-bit hash of h's first n² bits: each chunk of {@link #HASH_CHUNK} elements hashed as four
     * interleaved multiply-xorshift chains (so the chains overlap in the pipeline), the chunks in
     * parallel, their hashes combined in chunk order: the same value whatever the thread count.
     */
    private static long hash(double[] h, int n) {
        int len = n * n;
        int chunks = (len + HASH_CHUNK - 1) / HASH_CHUNK;
        long[] part = new long[chunks];
        Parallel.forEach(0, chunks, c -> part[c] = chunkHash(h, c * HASH_CHUNK, Math.min(len, (c + 1) * HASH_CHUNK)));
        long x = 0x9E3779B97F4A7C15L ^ len;
        for (long p : part) {
            x = mix(x ^ p);
        }
        return x;
    }

    private static long chunkHash(double[] h, int from, int to) {
        long a = 1, b = 2, c = 3, d = 4;
        int i = from;
        for (; i + 3 < to; i += 4) {
            a = mix(a ^ Double.doubleToRawLongBits(h[i]));
            b = mix(b ^ Double.doubleToRawLongBits(h[i + 1]));
            c = mix(c ^ Double.doubleToRawLongBits(h[i + 2]));
            d = mix(d ^ Double.doubleToRawLongBits(h[i + 3]));
        }
        for (; i < to; i++) {
            a = mix(a ^ Double.doubleToRawLongBits(h[i]));
        }
        return mix(mix(mix(a ^ b * 0x94D049BB133111EBL) ^ c) ^ d);
    }

    private static long mix(long x) {
        x *= 0xBF58476D1CE4E5B9L;
        return x ^ (x >>> 29);
    }
}
