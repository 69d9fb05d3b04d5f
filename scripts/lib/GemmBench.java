import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.opencl.OpenClBackend;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * scripts/bench-gemm's body (run as a source file on vq.jar): C = A·B (m×k times k×n, beta 0, the
 * report's H-weighted error gemm) on the array overload, and C -= A·B on resident matrices (the lazy
 * update), on the CPU backend, OpenCL's sgemm.cl and OpenCL's CLBlast (-Dvq.opencl.gemm=clblast), one
 * warm-up then `repeats` timed runs each, medians of wall and process CPU seconds, GFLOP/s = 2mnk/wall.
 * Args: repeats m,n,k [m,n,k ...]
 */
public class GemmBench {
    static double median(double[] t) {
        double[] s = t.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    static double cpuSeconds() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean()).getProcessCpuTime() * 1e-9;
    }

    public static void main(String[] args) {
        int repeats = Integer.parseInt(args[0]);
        CpuBackend cpu = new CpuBackend();
        OpenClBackend cl = new OpenClBackend(0);
        System.out.printf("%-9s %-8s %-18s %9s %9s %9s%n", "overload", "backend", "m x n x k", "wall s", "cpu s", "GFLOP/s");
        for (int i = 1; i < args.length; i++) {
            String[] d = args[i].split(",");
            int m = Integer.parseInt(d[0]), n = Integer.parseInt(d[1]), k = Integer.parseInt(d[2]);
            SplittableRandom r = new SplittableRandom(1);
            float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
            for (int j = 0; j < a.length; j++) a[j] = (float) r.nextGaussian();
            for (int j = 0; j < b.length; j++) b[j] = (float) r.nextGaussian();
            double flops = 2.0 * m * n * k;
            for (String overload : new String[]{"array", "resident"}) {
                for (String which : new String[]{"cpu", "sgemm.cl", "clblast"}) {
                    Backend be = which.equals("cpu") ? cpu : cl;
                    System.setProperty("vq.opencl.gemm", which.equals("clblast") ? "clblast" : "own");
                    ResidentMatrix ra = null, rb = null, rc = null;
                    if (overload.equals("resident")) {
                        ra = be.resident(a, m, k);
                        rb = be.resident(b, k, n);
                        rc = be.resident(c.clone(), m, n);
                    }
                    double[] wall = new double[repeats], cpus = new double[repeats];
                    for (int t = -1; t < repeats; t++) {
                        double c0 = cpuSeconds();
                        long t0 = System.nanoTime();
                        if (ra == null) {
                            be.gemm(false, false, m, n, k, 1f, a, b, 0f, c);
                        } else {
                            be.gemm(false, false, m, n, k, -1f, ra, 0, 0, rb, 0, 0, 1f, rc, 0, 0);
                        }
                        if (t >= 0) {
                            wall[t] = (System.nanoTime() - t0) * 1e-9;
                            cpus[t] = cpuSeconds() - c0;
                        }
                    }
                    if (ra != null) {
                        ra.close();
                        rb.close();
                        rc.close();
                    }
                    double w = median(wall);
                    System.out.printf(Locale.ROOT, "%-9s %-8s %-18s %9.3f %9.3f %9.1f%n", overload, which,
                            m + "x" + n + "x" + k, w, median(cpus), flops / w * 1e-9);
                }
            }
        }
        cl.close();
    }
}
