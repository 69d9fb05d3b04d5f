package io.vq4j.eval.bench;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.linalg.ScalarInverseCholesky;

import com.sun.management.OperatingSystemMXBean;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The factorisation and Hessian benchmark behind scripts/bench-factor (not a test).
 * <pre>
 * FactorBench factor --n N [--repeats 3] [--scalar]
 *     U with UᵀU = H⁻¹ on H = 3·I + S/√n (S symmetric, N(0,1) entries: eigenvalues in about [1, 5]);
 *     prints n, repeats, median seconds, min seconds, a hash of U's bits (the same for every thread
 *     count: -Dvq.threads=N); the scalar reference with --scalar
 * FactorBench gram --dim D --rows R [--repeats 3]
 *     H += XᵀX for R rows of Gaussian X; prints dim, rows, median seconds of the backend's
 *     accumulateGram, median seconds of the old path (float gemm XᵀX, both triangles, added in double)
 * </pre>
 */
public final class FactorBench {
    private FactorBench() {
    }

    /** The matrix the benchmark factors (also written by scripts/bench-factor's torch side, with its own generator). */
    static double[] matrix(int n, long seed) {
        SplittableRandom g = new SplittableRandom(seed);
        double[] h = new double[n * n];
        double s = 1 / Math.sqrt(n);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < i; j++) {
                double v = g.nextGaussian() * s;
                h[i * n + j] = v;
                h[j * n + i] = v;
            }
            h[i * n + i] = 3 + g.nextGaussian() * s;
        }
        return h;
    }

    /** CPU time of the whole process (every thread), for figures taken on a shared machine. */
    static long processCpuNanos() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof OperatingSystemMXBean os
                ? os.getProcessCpuTime() : -1;
    }

    private static double median(double[] t) {
        double[] s = t.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    public static void main(String[] args) {
        Locale.setDefault(Locale.ROOT);
        String mode = args.length > 0 ? args[0] : "";
        int repeats = Integer.parseInt(QuantizeBench.opt(args, "--repeats", "3"));
        Backend cpu = new CpuBackend();
        switch (mode) {
            case "factor" -> {
                int n = Integer.parseInt(QuantizeBench.opt(args, "--n", "4096"));
                boolean scalar = Arrays.asList(args).contains("--scalar");
                int w = Math.min(n, 768); // JIT warm-up, not timed
                for (int r = 0; r < 3; r++) {
                    double[] hw = matrix(w, 3);
                    if (scalar) {
                        ScalarInverseCholesky.inverseCholeskyUpper(hw, w);
                    } else {
                        cpu.inverseCholeskyUpper(hw, w);
                    }
                }
                double[] h = matrix(n, 1);
                double[] u = new double[n * n];
                double[] t = new double[repeats];
                double[] cpuT = new double[repeats];
                for (int r = 0; r < repeats; r++) {
                    System.arraycopy(h, 0, u, 0, u.length);
                    long c0 = processCpuNanos();
                    long t0 = System.nanoTime();
                    boolean ok;
                    if (scalar) {
                        double[] ref = ScalarInverseCholesky.inverseCholeskyUpper(u, n);
                        ok = ref != null;
                        if (ok) {
                            System.arraycopy(ref, 0, u, 0, u.length);
                        }
                    } else {
                        ok = cpu.inverseCholeskyUpper(u, n);
                    }
                    t[r] = (System.nanoTime() - t0) / 1e9;
                    cpuT[r] = (processCpuNanos() - c0) / 1e9;
                    if (!ok) {
                        throw new IllegalStateException("benchmark matrix not positive definite");
                    }
                }
                long hash = 17;
                for (double v : u) {
                    hash = hash * 31 + Double.doubleToLongBits(v);
                }
                System.out.printf("%d\t%d\t%.3f\t%.3f\t%016x\t%.3f%n", n, repeats, median(t), Arrays.stream(t).min().orElse(0),
                        hash, median(cpuT));
            }
            case "gram" -> {
                int dim = Integer.parseInt(QuantizeBench.opt(args, "--dim", "4096"));
                int rows = Integer.parseInt(QuantizeBench.opt(args, "--rows", "2048"));
                SplittableRandom g = new SplittableRandom(2);
                float[] x = new float[rows * dim];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) g.nextGaussian();
                }
                double[] h = new double[dim * dim];
                cpu.accumulateGram(x, Math.min(rows, 512), dim, h); // JIT warm-up, not timed
                double[] tNew = new double[repeats];
                double[] tOld = new double[repeats];
                for (int r = 0; r < repeats; r++) { // interleaved
                    long t0 = System.nanoTime();
                    cpu.accumulateGram(x, rows, dim, h);
                    tNew[r] = (System.nanoTime() - t0) / 1e9;
                    t0 = System.nanoTime();
                    float[] xtx = new float[dim * dim];
                    cpu.gemm(true, false, dim, dim, rows, 1f, x, x, 0f, xtx);
                    for (int i = 0; i < xtx.length; i++) {
                        h[i] += xtx[i];
                    }
                    tOld[r] = (System.nanoTime() - t0) / 1e9;
                }
                System.out.printf("%d\t%d\t%.3f\t%.3f%n", dim, rows, median(tNew), median(tOld));
            }
            default -> {
                System.err.println("usage: FactorBench factor --n N [--repeats R] [--scalar] | gram --dim D --rows R");
                System.exit(2);
            }
        }
    }
}
