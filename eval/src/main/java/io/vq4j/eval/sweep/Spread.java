package io.vq4j.eval.sweep;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;

/**
 * One metric over the seeds of a configuration: mean, sample standard deviation (n − 1; 0 for
 * one seed), minimum and maximum. Summed in the runs' order, so the same runs give the same bits.
 */
public record Spread(double mean, double sd, double min, double max, int n) {
    public static Spread of(double[] v) {
        if (v.length == 0) {
            return new Spread(Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0);
        }
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        boolean nan = false;
        for (double x : v) {
            nan |= Double.isNaN(x);
            min = Math.min(min, x);
            max = Math.max(max, x);
        }
        // the mean as min + mean offset, inside [min, max]: equal runs give exactly their value
        // (a plain sum / n of three equal doubles can differ from them in the last bit)
        double off = 0;
        for (double x : v) {
            off += x - min;
        }
        double mean = nan ? Double.NaN : min == max ? min : Math.min(max, min + off / v.length);
        double ss = 0;
        for (double x : v) {
            ss += min == max ? 0 : (x - mean) * (x - mean);
        }
        double sd = v.length > 1 ? Math.sqrt(ss / (v.length - 1)) : 0;
        if (nan) {
            min = Double.NaN;
            max = Double.NaN;
        }
        return new Spread(mean, sd, min, max, v.length);
    }

    /** True when every value here is below every value of {@code other} (the ranges do not touch). */
    public boolean entirelyBelow(Spread other) {
        return max < other.min;
    }

    /** A configuration's runs, one per seed, in the sweep's order. */
    public record Group(String name, String slug, String method, List<Sweep.Result> runs) {
        public Spread of(ToDoubleFunction<Sweep.Result> metric) {
            return Spread.of(runs.stream().mapToDouble(metric).toArray());
        }

        public Sweep.Result first() {
            return runs.getFirst();
        }
    }

    /** Results grouped by configuration (slug), in order of first appearance. */
    public static List<Group> groups(List<Sweep.Result> rs) {
        List<Group> out = new ArrayList<>();
        for (List<Sweep.Result> runs : bySlug(rs, Sweep.Result::slug)) {
            out.add(new Group(runs.getFirst().name(), runs.getFirst().slug(), runs.getFirst().method(), runs));
        }
        return out;
    }

    /** Any kind of result grouped by its configuration's slug, in order of first appearance. */
    static <T> List<List<T>> bySlug(List<T> rs, Function<T, String> slug) {
        Map<String, List<T>> by = new LinkedHashMap<>();
        for (T r : rs) {
            by.computeIfAbsent(slug.apply(r), k -> new ArrayList<>()).add(r);
        }
        List<List<T>> out = new ArrayList<>();
        by.values().forEach(v -> out.add(List.copyOf(v)));
        return out;
    }

    /** The spread of one metric over runs of any kind. */
    static <T> Spread of(List<T> runs, ToDoubleFunction<T> metric) {
        return of(runs.stream().mapToDouble(metric).toArray());
    }
}
