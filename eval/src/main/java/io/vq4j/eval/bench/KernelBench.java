package io.vq4j.eval.bench;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.StageValues;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Timings of the compute SPI's kernels on one backend: assignment (3·n·k·d flops, weighted and
 * not; its matmul form, 2·n·k·d flops, weighted 4·n·k·d: the gemm's own), the M-step (bytes moved), and the Hessian gemm XᵀX (2·n·c² flops). Each case runs
 * once to warm up, then {@code repeats} times; the median is reported. Inputs are Gaussian,
 * from a fixed seed. Where a shape would take too long (the CPU at k = 65,536 over millions
 * of vectors), only the first {@code maxVectors} vectors are timed and the row says so:
 * throughput is what is compared.
 */
public final class KernelBench {
    private KernelBench() {
    }

    /**
     * One timed case: the median wall time and the median CPU time of the whole process over the
     * same runs (every thread, the OpenCL runtime's native ones included; NaN where the system
     * cannot say). On a shared machine the CPU time is the steadier measure of the work a kernel
     * costs on the host's cores (PoCL, the CPU backend); on a GPU only the wall time means speed.
     */
    public record Row(String device, String kernel, String shape, long vectorsTimed, long vectorsFull, double seconds,
                      double cpuSeconds, double gflops, double gbytes) {
        public double gflopsPerSecond() {
            return gflops / seconds;
        }

        public double gbytesPerSecond() {
            return gbytes / seconds;
        }
    }

    /** A weight-matrix shape (rows × cols) cut into vectors of d. */
    public record Case(int rows, int cols, int d, int k) {
        long vectors() {
            return (long) rows * cols / d;
        }
    }

    public static List<Case> cases(boolean quick) {
        List<Case> out = new ArrayList<>();
        int[][] mats = quick ? new int[][]{{256, 256}} : new int[][]{{4096, 4096}, {14336, 4096}};
        int[] ks = quick ? new int[]{256, 4096} : new int[]{256, 4096, 65536};
        for (int[] m : mats) {
            for (int d : new int[]{4, 8, 16}) {
                for (int k : ks) {
                    out.add(new Case(m[0], m[1], d, k));
                }
            }
        }
        return out;
    }

    static double median(double[] t) {
        double[] s = t.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    interface Run {
        void run();
    }

    /** Median wall and process CPU seconds of {@code repeats} runs after one warm-up. */
    record Timing(double seconds, double cpuSeconds) {
    }

    static Timing time(Run r, int repeats) {
        r.run(); // warm-up (kernel builds, JIT)
        double[] t = new double[repeats];
        double[] cpu = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long c0 = processCpuNanos();
            long t0 = System.nanoTime();
            r.run();
            t[i] = (System.nanoTime() - t0) / 1e9;
            cpu[i] = c0 < 0 ? Double.NaN : (processCpuNanos() - c0) / 1e9;
        }
        return new Timing(median(t), median(cpu));
    }

    /**
     * CPU nanoseconds run so far by every thread of this process (Linux: the sum over
     * /proc/self/task/{@literal *}/schedstat, nanosecond counts); −1 where unavailable. Threads that
     * ended are not counted, so a call is measured by the threads alive across it.
     */
    static long processCpuNanos() {
        Path tasks = Path.of("/proc/self/task");
        if (!Files.isDirectory(tasks)) {
            return -1;
        }
        long sum = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(tasks)) {
            for (Path t : ds) {
                try {
                    String line = Files.readString(t.resolve("schedstat")).trim();
                    int sp = line.indexOf(' ');
                    sum += Long.parseLong(sp < 0 ? line : line.substring(0, sp));
                } catch (IOException | NumberFormatException e) {
                    // the thread ended while being read
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return sum;
    }

    static float[] gaussian(SplittableRandom r, long n) {
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    /** The groups of rows {@link #run} can time: assign (both forms), accumulate, dequant, hessian. */
    public static final List<String> GROUPS = List.of("assign", "accumulate", "dequant", "hessian");

    /** Runs every case on the backend. {@code maxVectors} caps the vectors timed per case. */
    public static List<Row> run(Backend b, String device, List<Case> cases, long maxVectors, int repeats) {
        return run(b, device, cases, maxVectors, repeats, Set.copyOf(GROUPS));
    }

    /** The same, for the groups of rows named in {@code groups} only (of {@link #GROUPS}). */
    public static List<Row> run(Backend b, String device, List<Case> cases, long maxVectors, int repeats,
                                Set<String> groups) {
        List<Row> rows = new ArrayList<>();
        boolean assign = groups.contains("assign");
        boolean accumulate = groups.contains("accumulate");
        for (Case c : assign || accumulate ? cases : List.<Case>of()) {
            int n = (int) Math.min(c.vectors(), maxVectors);
            // keep runs short on slow devices: cap the work of one call at ~2e11 flops
            n = (int) Math.max(1024, Math.min(n, 2e11 / (3.0 * c.k() * c.d())));
            n = (int) Math.min(n, c.vectors());
            SplittableRandom r = new SplittableRandom(c.rows() * 31L + c.cols() * 7L + c.d() * 3L + c.k());
            float[] x = gaussian(r, (long) n * c.d());
            float[] w = new float[x.length];
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) r.nextDouble(0.1, 2);
            }
            float[] cb = gaussian(r, (long) c.k() * c.d());
            int[] idx = new int[n];
            float[] dist = new float[n];
            String shape = String.format(Locale.ROOT, "%dx%d d=%d k=%d", c.rows(), c.cols(), c.d(), c.k());
            double flops = 3.0 * n * c.k() * c.d() / 1e9;
            int fn = n;
            Timing t;
            if (assign) {
                t = time(() -> b.assignNearest(x, null, fn, c.d(), cb, c.k(), idx, dist), repeats);
                rows.add(new Row(device, "assign", shape, n, c.vectors(), t.seconds(), t.cpuSeconds(), flops, 0));
                t = time(() -> b.assignNearest(x, w, fn, c.d(), cb, c.k(), idx, dist), repeats);
                rows.add(new Row(device, "assign-weighted", shape, n, c.vectors(), t.seconds(), t.cpuSeconds(), flops,
                        0));
                // the matmul form: its gemm's own flops, 2·n·k·d (weighted: an inner length of 2d)
                t = time(() -> b.assignNearestGemm(x, null, fn, c.d(), cb, c.k(), idx, dist), repeats);
                rows.add(new Row(device, "assign-gemm", shape, n, c.vectors(), t.seconds(), t.cpuSeconds(),
                        2.0 * n * c.k() * c.d() / 1e9, 0));
                t = time(() -> b.assignNearestGemm(x, w, fn, c.d(), cb, c.k(), idx, dist), repeats);
                rows.add(new Row(device, "assign-gemm-weighted", shape, n, c.vectors(), t.seconds(), t.cpuSeconds(),
                        4.0 * n * c.k() * c.d() / 1e9, 0));
            }
            if (!accumulate) {
                continue;
            }
            if (!assign) { // the M-step's indices, as an E-step gives them
                b.assignNearest(x, null, fn, c.d(), cb, c.k(), idx, dist);
            }
            double[] sums = new double[c.k() * c.d()];
            double[] ws = new double[c.k() * c.d()];
            t = time(() -> b.accumulateCentroids(x, w, fn, c.d(), idx, c.k(), sums, ws), repeats);
            double bytes = (2.0 * n * c.d() * 4 + 4.0 * n + 16.0 * c.k() * c.d()) / 1e9;
            rows.add(new Row(device, "accumulate", shape, n, c.vectors(), t.seconds(), t.cpuSeconds(), 0, bytes));
        }
        // dequant-matvec: y = W x straight from packed VQ weights (one fp16 codebook per tensor,
        // indices of log2 k bits), bytes = the packed weights read once plus x and y
        for (Case c : groups.contains("dequant") ? cases : List.<Case>of()) {
            SplittableRandom r = new SplittableRandom(c.rows() * 13L + c.d() * 5L + c.k());
            int nv = Math.toIntExact(c.vectors());
            int[] idx = new int[nv];
            for (int i = 0; i < nv; i++) {
                idx[i] = r.nextInt(c.k());
            }
            PackedMatrix m = PackedMatrix.builder(c.rows(), c.cols())
                    .vector("", 0, c.cols(), Axis.IN, c.d(), c.rows(), c.cols(),
                            List.of(new StageValues(c.k(), gaussian(r, (long) c.k() * c.d()), idx)), null)
                    .build();
            float[] x = gaussian(r, c.cols());
            float[] y = new float[c.rows()];
            String shape = String.format(Locale.ROOT, "%dx%d d=%d k=%d", c.rows(), c.cols(), c.d(), c.k());
            // the batched product of prefill and perplexity: n input rows at once (512, a stories260K
            // window, on small shapes; fewer on big ones, ~1 GFLOP a call), 2·n·rows·cols flops
            int tokens = Integer.highestOneBit((int) Math.max(16, Math.min(512, 1e9 / ((double) c.rows() * c.cols()))));
            float[] xs = gaussian(r, (long) tokens * c.cols());
            float[] ys = new float[tokens * c.rows()];
            try (PackedWeights pw = b.upload(m)) {
                Timing t = time(() -> b.dequantMatvec(pw, x, y), repeats);
                double bytes = (m.deviceBytes() + 4.0 * (c.rows() + c.cols())) / 1e9;
                rows.add(new Row(device, "dequant-matvec", shape, c.vectors(), c.vectors(), t.seconds(),
                        t.cpuSeconds(), 0, bytes));
                t = time(() -> b.dequantMatmul(pw, xs, tokens, ys), repeats);
                rows.add(new Row(device, "dequant-matmul", shape + " n=" + tokens, c.vectors(), c.vectors(),
                        t.seconds(), t.cpuSeconds(),
                        2.0 * tokens * c.rows() * c.cols() / 1e9, 0));
            }
        }
        // the Hessian of a layer's inputs: XᵀX for 2048 calibration rows
        for (int cols : !groups.contains("hessian") ? new int[0]
                : cases.getFirst().rows() < 1024 ? new int[]{256} : new int[]{4096, 14336}) {
            int m = 2048;
            SplittableRandom r = new SplittableRandom(cols);
            float[] x = gaussian(r, (long) m * cols);
            float[] h = new float[cols * cols];
            Timing t = time(() -> b.gemm(true, false, cols, cols, m, 1f, x, x, 0f, h), repeats);
            rows.add(new Row(device, "hessian-gemm", "X 2048x" + cols, m, m, t.seconds(), t.cpuSeconds(),
                    2.0 * m * cols * cols / 1e9, 0));
        }
        return rows;
    }
}
