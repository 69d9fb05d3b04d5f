package io.vq4j.eval;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits: argmax at temperature 0; otherwise softmax at the given
 * temperature, restricted to the smallest set of most likely tokens whose probability reaches
 * top-p (nucleus sampling). Seeded, so the same seed gives the same tokens.
 */
public final class Sampler {
    private final double temperature;
    private final double topP;
    private final SplittableRandom random;

    public Sampler(double temperature, double topP, long seed) {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        this.temperature = temperature;
        this.topP = topP;
        this.random = new SplittableRandom(seed);
    }

    public int next(float[] logits, int from, int n) {
        if (temperature == 0) {
            return argmax(logits, from, n);
        }
        double[] p = probabilities(logits, from, n, temperature);
        return pick(p, topP, random.nextDouble());
    }

    public static int argmax(float[] a, int from, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (a[from + i] > a[from + best]) {
                best = i;
            }
        }
        return best;
    }

    static double[] probabilities(float[] logits, int from, int n, double temperature) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, logits[from + i]);
        }
        double[] p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            p[i] = Math.exp((logits[from + i] - max) / temperature);
            sum += p[i];
        }
        for (int i = 0; i < n; i++) {
            p[i] /= sum;
        }
        return p;
    }

    /**
     * Sorts tokens by probability (ties by id), keeps the shortest prefix whose mass reaches
     * topP, and picks within it by {@code u} in [0, 1) scaled to the kept mass.
     */
    static int pick(double[] p, double topP, double u) {
        Integer[] order = new Integer[p.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
        double mass = 0;
        int keep = 0;
        while (keep < order.length) {
            mass += p[order[keep++]];
            if (mass >= topP) {
                break;
            }
        }
        double target = u * mass;
        double c = 0;
        for (int i = 0; i < keep; i++) {
            c += p[order[i]];
            if (target < c) {
                return order[i];
            }
        }
        return order[keep - 1];
    }
}
