package io.vq4j.eval.bench;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.pack.PackedLayers;
import io.vq4j.quant.Methods;
import io.vq4j.quant.QuantOptions;
import io.vq4j.quant.core.HessianAccumulator;
import io.vq4j.quant.core.KMeans;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.QuantSpec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

import static io.vq4j.quant.method.SharedOptions.BITS;
import static io.vq4j.quant.method.SharedOptions.CENTROIDS;
import static io.vq4j.quant.method.SharedOptions.DIM;
import static io.vq4j.quant.method.SharedOptions.GROUP_SIZE;
import static io.vq4j.quant.method.SharedOptions.ITERS;
import static io.vq4j.quant.method.SharedOptions.TOL;

/**
 * The quantizer benchmark behind scripts/bench-quantize (not a test).
 * <pre>
 * QuantizeBench layers [--rows 4096] [--cols 4096] [--methods rtn,gptq,kmeans,gptvq,vptq] [--k 256,4096]
 *                      [--d 4] [--iters 10] [--calib-rows 2048]
 *     seconds per layer of each method on a synthetic heavy-tailed layer with a Hessian from
 *     correlated inputs; tab-separated rows: method, d, k, seconds, nominal bits
 * QuantizeBench kmeans --vectors FILE --n N --d D --k K --iters I
 *     writes N x D Gaussian-mixture vectors (seeded) to FILE as little-endian f32, then times
 *     Lloyd iterations of KMeans on the CPU backend from the first K vectors; prints
 *     n, d, k, iterations, seconds per iteration (median of three runs)
 * </pre>
 */
public final class QuantizeBench {
    private QuantizeBench() {
    }

    static String opt(String[] a, String name, String def) {
        for (int i = 0; i + 1 < a.length; i++) {
            if (a[i].equals(name)) {
                return a[i + 1];
            }
        }
        return def;
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 0) {
            System.err.println("usage: QuantizeBench layers|kmeans [options]");
            System.exit(2);
        }
        if (args[0].equals("layers")) {
            layers(args);
        } else {
            kmeans(args);
        }
    }

    static void layers(String[] a) {
        int rows = Integer.parseInt(opt(a, "--rows", "4096"));
        int cols = Integer.parseInt(opt(a, "--cols", "4096"));
        int d = Integer.parseInt(opt(a, "--d", "4"));
        int iters = Integer.parseInt(opt(a, "--iters", "10"));
        int n = Integer.parseInt(opt(a, "--calib-rows", "2048"));
        List<String> methods = List.of(opt(a, "--methods", String.join(",", Methods.names())).split(","));
        int[] ks = Arrays.stream(opt(a, "--k", "256,4096").split(",")).mapToInt(Integer::parseInt).toArray();
        Backend b = new CpuBackend();
        SplittableRandom r = new SplittableRandom(42);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) { // Student-t with 4 degrees of freedom, scaled
            double z = r.nextGaussian();
            double chi = 0;
            for (int j = 0; j < 4; j++) {
                double g = r.nextGaussian();
                chi += g * g;
            }
            w[i] = (float) (0.02 * z / Math.sqrt(chi / 4));
        }
        float[] x = new float[n * cols];
        for (int i = 0; i < n; i++) {
            double common = r.nextGaussian();
            for (int j = 0; j < cols; j++) {
                x[i * cols + j] = (float) ((0.3 + (j % 7) * 0.2) * (0.6 * common + r.nextGaussian()));
            }
        }
        long t0 = System.nanoTime();
        HessianAccumulator acc = new HessianAccumulator(b, cols);
        acc.add(x, n);
        double[] h = acc.hessian(0.01);
        System.out.printf(Locale.ROOT, "hessian\t-\t-\t%.2f\t-%n", (System.nanoTime() - t0) / 1e9);
        for (String m : methods) {
            Method<?> q = Methods.forName(m);
            boolean scalar = !q.isVector();
            for (int k : scalar ? new int[]{0} : ks) {
                // scalar: 4 bits per 128 columns; vector: d, k, iters, no early stop (codebook groups: whole rows)
                QuantSpec s = QuantOptions.build(m, scalar ? Map.of(BITS.name(), 4, GROUP_SIZE.name(), 128)
                        : Map.of(DIM.name(), d, CENTROIDS.name(), k, ITERS.name(), iters, TOL.name(), 0.0));
                q.validate(s, rows, cols);
                long l0 = System.nanoTime();
                var layer = q.quantize(new LayerProblem("bench", w, rows, cols, q.needsHessian() ? h : null, s, b, 1));
                double secs = (System.nanoTime() - l0) / 1e9;
                System.out.printf(Locale.ROOT, "%s\t%s\t%s\t%.2f\t%.4f%n", m, scalar ? "-" : d, scalar ? "-" : k, secs,
                        PackedLayers.nominalBitsPerWeight(layer));
                System.out.flush();
            }
        }
    }

    static void kmeans(String[] a) throws IOException {
        Path file = Path.of(opt(a, "--vectors", "vectors.f32"));
        int n = Integer.parseInt(opt(a, "--n", "1000000"));
        int d = Integer.parseInt(opt(a, "--d", "4"));
        int k = Integer.parseInt(opt(a, "--k", "256"));
        int iters = Integer.parseInt(opt(a, "--iters", "5"));
        SplittableRandom r = new SplittableRandom(7);
        float[] x = new float[n * d];
        float[][] centres = new float[64][d];
        for (float[] c : centres) {
            for (int j = 0; j < d; j++) {
                c[j] = (float) (3 * r.nextGaussian());
            }
        }
        for (int i = 0; i < n; i++) {
            float[] c = centres[r.nextInt(64)];
            for (int j = 0; j < d; j++) {
                x[i * d + j] = (float) (c[j] + r.nextGaussian());
            }
        }
        ByteBuffer buf = ByteBuffer.allocate(x.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(x);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
        }
        Backend b = new CpuBackend();
        float[] init = Arrays.copyOf(x, k * d);
        KMeans.fitFrom(b, x, null, n, d, k, 1, -1, init); // warm-up (JIT)
        List<Double> per = new ArrayList<>();
        for (int rep = 0; rep < 3; rep++) {
            // tol = -1: no early stop. fitFrom(0) is the initial assignment alone; the difference
            // is `iters` Lloyd iterations (M-step + E-step each)
            long t0 = System.nanoTime();
            KMeans.fitFrom(b, x, null, n, d, k, 0, -1, init);
            long t1 = System.nanoTime();
            KMeans.fitFrom(b, x, null, n, d, k, iters, -1, init);
            long t2 = System.nanoTime();
            per.add(((t2 - t1) - (t1 - t0)) / 1e9 / iters);
        }
        double[] s = per.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        System.out.printf(Locale.ROOT, "%d\t%d\t%d\t%d\t%.4f%n", n, d, k, iters, s[s.length / 2]);
    }
}
