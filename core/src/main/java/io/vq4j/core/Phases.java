package io.vq4j.core;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Wall-clock seconds per named phase of a run (calibration forward, Hessian, factor, the
 * error-feedback loop, ...), for the benchmarks' time split. Off unless the JVM runs with
 * {@code -Dvq.phases=true}; then every {@link #stop} adds to its phase and the totals are
 * printed to stderr as "phase&lt;TAB&gt;seconds&lt;TAB&gt;calls" lines when the JVM exits. Phases may
 * nest (a phase's time then includes its children's); the names say which do.
 */
public final class Phases {
    private static final boolean ON = Boolean.getBoolean("vq.phases");
    private static final Map<String, LongAdder[]> TOTALS = new ConcurrentHashMap<>();

    static {
        if (ON) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> System.err.print(report()), "vq-phases"));
        }
    }

    private Phases() {
    }

    /** Whether phases are being timed. */
    public static boolean enabled() {
        return ON;
    }

    /** A start time for {@link #stop} (0 when timing is off). */
    public static long start() {
        return ON ? System.nanoTime() : 0;
    }

    /** Adds the time since {@code t0} (from {@link #start}) to {@code phase}. */
    public static void stop(String phase, long t0) {
        if (ON) {
            add(phase, System.nanoTime() - t0);
        }
    }

    static void add(String phase, long nanos) {
        LongAdder[] a = TOTALS.computeIfAbsent(phase, k -> new LongAdder[]{new LongAdder(), new LongAdder()});
        a[0].add(nanos);
        a[1].increment();
    }

    /** Seconds per phase so far, by name. */
    public static Map<String, Double> seconds() {
        Map<String, Double> out = new TreeMap<>();
        TOTALS.forEach((k, v) -> out.put(k, v[0].sum() / 1e9));
        return out;
    }

    /** The totals as "phase\tseconds\tcalls" lines, sorted by name. */
    public static String report() {
        StringBuilder sb = new StringBuilder();
        new TreeMap<>(TOTALS).forEach((k, v) -> sb.append(String.format(Locale.ROOT, "phase\t%s\t%.3f\t%d%n", k,
                v[0].sum() / 1e9, v[1].sum())));
        return sb.toString();
    }

    /** Forgets every total. */
    public static void reset() {
        TOTALS.clear();
    }
}
