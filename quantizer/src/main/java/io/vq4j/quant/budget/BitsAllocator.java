package io.vq4j.quant.budget;

import java.util.Arrays;

/**
 * The per-layer choice under a byte budget: a multiple-choice knapsack, one candidate per
 * layer, minimising the summed predicted loss with the summed bytes at most the budget, solved
 * by dynamic programming over the bytes. Each layer's cheapest candidate is taken out first
 * (the DP runs over the bytes above it); when that slack is larger than {@link #MAX_CELLS} the
 * DP counts bytes in units of u = ⌈slack / MAX_CELLS⌉ and rounds every cost <em>up</em> to a
 * whole unit, so a choice that fits in units fits in bytes: the budget is never exceeded, and
 * the answer is exactly optimal whenever u = 1 (every model up to a few million weights at a few
 * bits). Ties: at every layer the earliest candidate of the list that reaches the minimum wins
 * (strict comparison, fixed order), so the same input gives the same choice.
 */
public final class BitsAllocator {
    /** The most DP cells per layer (a byte array of this many per layer for the choice). */
    public static final int MAX_CELLS = 1 << 20;

    private BitsAllocator() {
    }

    /** @param pick the candidate chosen per layer; {@code bytes} and {@code loss} their sums */
    public record Choice(int[] pick, long bytes, double loss) {
    }

    /**
     * @param bytes  bytes[layer][candidate] ≥ 0
     * @param loss   loss[layer][candidate], the predicted loss (finite)
     * @param budget the most bytes the layers may take together
     * @return the cheapest-loss choice within the budget, or null when even every layer's
     * cheapest candidate does not fit
     */
    public static Choice allocate(long[][] bytes, double[][] loss, long budget) {
        return allocate(bytes, loss, budget, MAX_CELLS);
    }

    static Choice allocate(long[][] bytes, double[][] loss, long budget, int maxCells) {
        int layers = bytes.length;
        if (loss.length != layers) {
            throw new IllegalArgumentException(layers + " layers of bytes, " + loss.length + " of loss");
        }
        long base = 0;
        long[] min = new long[layers];
        for (int i = 0; i < layers; i++) {
            if (bytes[i].length == 0 || bytes[i].length != loss[i].length || bytes[i].length > 127) {
                throw new IllegalArgumentException("layer " + i + ": 1..127 candidates with bytes and loss each");
            }
            min[i] = Long.MAX_VALUE;
            for (long b : bytes[i]) {
                if (b < 0) {
                    throw new IllegalArgumentException("layer " + i + ": negative bytes " + b);
                }
                min[i] = Math.min(min[i], b);
            }
            base += min[i];
        }
        if (base > budget) {
            return null;
        }
        long slack = budget - base;
        long unit = Math.max(1, (slack + maxCells - 1) / maxCells);
        int cap = (int) (slack / unit);
        double[] dp = new double[cap + 1]; // dp[c]: least loss of the layers so far within c units
        double[] next = new double[cap + 1];
        byte[][] choice = new byte[layers][cap + 1];
        for (int i = 0; i < layers; i++) {
            Arrays.fill(next, Double.POSITIVE_INFINITY);
            for (int j = 0; j < bytes[i].length; j++) {
                long extra = bytes[i][j] - min[i];
                long units = (extra + unit - 1) / unit;
                if (units > cap) {
                    continue;
                }
                int u = (int) units;
                double l = loss[i][j];
                for (int c = u; c <= cap; c++) {
                    double v = dp[c - u] + l;
                    if (v < next[c]) {
                        next[c] = v;
                        choice[i][c] = (byte) j;
                    }
                }
            }
            double[] t = dp;
            dp = next;
            next = t;
        }
        int[] pick = new int[layers];
        int c = cap;
        long total = 0;
        double sum = 0;
        for (int i = layers - 1; i >= 0; i--) {
            int j = choice[i][c];
            pick[i] = j;
            c -= (int) ((bytes[i][j] - min[i] + unit - 1) / unit);
        }
        for (int i = 0; i < layers; i++) { // the sums in layer order, as a caller would add them
            total += bytes[i][pick[i]];
            sum += loss[i][pick[i]];
        }
        return new Choice(pick, total, sum);
    }
}
