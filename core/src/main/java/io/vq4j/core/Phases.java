package io.vq4j.core;

import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Wall-clock seconds per named phase of a run (calibration forward, Hessian, factor, the
 * error-feedback loop, ...), for the benchmarks' time split, and the CPU seconds spent meanwhile.
 * Off unless the JVM runs with {@code -Dvq.phases=true}; then every {@link #stop} adds to its
 * phase and the totals are printed to stderr as "phase&lt;TAB&gt;seconds&lt;TAB&gt;calls&lt;TAB&gt;cpu-seconds"
 * lines when the JVM exits. Phases may nest (a phase's time then includes its children's); the
 * names say which do.
 *
 * <p>CPU seconds are the process's CPU time (every thread: the pools' workers, and the JIT and GC
 * threads too; OperatingSystemMXBean#getProcessCpuTime) between the phase's start and stop, so a
 * phase's CPU includes its worker threads' work, which a per-thread clock on the caller would
 * miss. Phases that overlap in time on different threads each count the CPU of the overlap. On a
 * shared machine the wall seconds measure the scheduler's share; the CPU seconds measure the work.
 * -1 where the JVM cannot read the process's CPU time.
 */
public final class Phases {
    private static final boolean ON = Boolean.getBoolean("vq.phases");
    private static final Map<String, LongAdder[]> TOTALS = new ConcurrentHashMap<>();
    /** The process CPU time at each open start, by the start's (unique) time. */
    private static final Map<Long, Long> CPU_AT_START = new ConcurrentHashMap<>();
    private static final AtomicLong LAST_START = new AtomicLong(Long.MIN_VALUE);
    private static final OperatingSystemMXBean OS = ON ? ManagementFactory.getOperatingSystemMXBean() : null;

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

    /**
     * A start time for {@link #stop} (0 when timing is off): System.nanoTime(), made unique (one
     * nanosecond later than the last start if need be) so that it keys the CPU time taken with it.
     */
    public static long start() {
        if (!ON) {
            return 0;
        }
        long now = System.nanoTime();
        long t = LAST_START.updateAndGet(last -> Math.max(now, last + 1));
        CPU_AT_START.put(t, cpuNanos());
        return t;
    }

    /** Adds the time since {@code t0} (from {@link #start}) to {@code phase}, and the CPU time since. */
    public static void stop(String phase, long t0) {
        if (ON) {
            long wall = System.nanoTime() - t0;
            Long cpu0 = CPU_AT_START.remove(t0);
            long cpu = cpuNanos();
            add(phase, wall, cpu0 == null || cpu0 < 0 || cpu < 0 ? -1 : cpu - cpu0);
        }
    }

    /** The process's CPU time in nanoseconds, or -1. */
    private static long cpuNanos() {
        return OS instanceof com.sun.management.OperatingSystemMXBean os ? os.getProcessCpuTime() : -1;
    }

    /** @param cpuNanos -1 when unknown (then the phase's CPU total is reported as unknown) */
    static void add(String phase, long nanos, long cpuNanos) {
        LongAdder[] a = TOTALS.computeIfAbsent(phase, k -> new LongAdder[]{new LongAdder(), new LongAdder(),
                new LongAdder(), new LongAdder()});
        a[0].add(nanos);
        a[1].increment();
        if (cpuNanos >= 0) {
            a[2].add(cpuNanos);
        } else {
            a[3].increment();
        }
    }

    /** CPU seconds per phase so far, by name (-1 for a phase some of whose calls had no CPU time). */
    public static Map<String, Double> cpuSeconds() {
        Map<String, Double> out = new TreeMap<>();
        TOTALS.forEach((k, v) -> out.put(k, v[3].sum() > 0 ? -1 : v[2].sum() / 1e9));
        return out;
    }

    /** Seconds per phase so far, by name. */
    public static Map<String, Double> seconds() {
        Map<String, Double> out = new TreeMap<>();
        TOTALS.forEach((k, v) -> out.put(k, v[0].sum() / 1e9));
        return out;
    }

    /** The totals as "phase\tname\tseconds\tcalls\tcpu-seconds" lines, sorted by name. */
    public static String report() {
        StringBuilder sb = new StringBuilder();
        new TreeMap<>(TOTALS).forEach((k, v) -> sb.append(String.format(Locale.ROOT, "phase\t%s\t%.3f\t%d\t%.3f%n", k,
                v[0].sum() / 1e9, v[1].sum(), v[3].sum() > 0 ? -1.0 : v[2].sum() / 1e9)));
        return sb.toString();
    }

    /** Forgets every total. */
    public static void reset() {
        TOTALS.clear();
        CPU_AT_START.clear();
    }
}
