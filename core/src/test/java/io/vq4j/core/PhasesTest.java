package io.vq4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Phases in a second JVM (timing is fixed at class load by -Dvq.phases=true): each phase's line
 * gives wall seconds, calls and the process's CPU seconds during it, which include the work of
 * other threads than the one that timed the phase.
 */
class PhasesTest {
    /** Busy until this thread has used {@code nanos} of CPU. */
    static void burn(long nanos) {
        ThreadMXBean t = ManagementFactory.getThreadMXBean();
        long end = t.getCurrentThreadCpuTime() + nanos;
        double x = 1;
        while (t.getCurrentThreadCpuTime() < end) {
            for (int i = 0; i < 10_000; i++) {
                x = x * 1.0000001 + 1e-9;
            }
        }
        if (x == 0) {
            throw new AssertionError();
        }
    }

    /** The child: a phase of 0.2 CPU-s on this thread, one of 2 × 0.2 CPU-s on two other threads, one asleep. */
    public static void main(String[] args) throws Exception {
        long t = Phases.start();
        burn(200_000_000L);
        Phases.stop("here", t);
        t = Phases.start();
        Thread a = new Thread(() -> burn(200_000_000L));
        Thread b = new Thread(() -> burn(200_000_000L));
        a.start();
        b.start();
        a.join();
        b.join();
        Phases.stop("workers", t);
        t = Phases.start();
        Thread.sleep(300);
        Phases.stop("asleep", t);
        Phases.stop("never started", 12345L); // a start not from Phases.start: its CPU is unknown
        System.out.print(Phases.report());
    }

    @Test
    void eachPhaseHasItsWallAndTheProcessCpuSeconds() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dvq.phases=true", "-cp", System.getProperty("java.class.path"), PhasesTest.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        double[] here = line(out, "here");
        double[] workers = line(out, "workers");
        double[] asleep = line(out, "asleep");
        assertEquals(1, here[1]);
        assertTrue(here[2] >= 0.2 && here[0] >= 0.2 * 0.99, out); // its own thread's CPU, inside its wall time
        assertTrue(workers[2] >= 0.4, "the two threads' CPU is counted: " + out);
        assertTrue(asleep[0] >= 0.29 && asleep[2] < 0.15, "asleep, the process is idle but for the JVM: " + out);
        assertEquals(-1, line(out, "never started")[2], out);
    }

    /** seconds, calls, cpu-seconds of a "phase\tname\ts\tcalls\tcpu" line. */
    private static double[] line(String out, String name) {
        for (String l : out.lines().toList()) {
            String[] f = l.split("\t");
            if (f.length == 5 && f[0].equals("phase") && f[1].equals(name)) {
                return new double[]{Double.parseDouble(f[2]), Double.parseDouble(f[3]), Double.parseDouble(f[4])};
            }
        }
        throw new AssertionError("no phase " + name + " in: " + out);
    }
}
