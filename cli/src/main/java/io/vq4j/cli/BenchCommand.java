package io.vq4j.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.eval.bench.KernelBench;
import io.vq4j.kernels.Backend;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "bench", description = "Benchmarks.", subcommands = BenchCommand.Kernels.class,
        mixinStandardHelpOptions = true)
final class BenchCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "bench needs a subcommand: kernels");
    }

    /** The row's throughput over the device's peak (fp32 for flop rows, memory for byte rows); NaN if unknown. */
    static double fractionOfPeak(KernelBench.Row r, double[] peak) {
        if (peak == null) {
            return Double.NaN;
        }
        return r.gflops() > 0 ? r.gflopsPerSecond() / peak[0] : r.gbytesPerSecond() / peak[1];
    }

    @Command(name = "kernels", mixinStandardHelpOptions = true,
            description = "Time the compute kernels on each device and on the CPU: time, GFLOP/s or GB/s, speed-up over the CPU.")
    static final class Kernels implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @Mixin
        DeviceOption.Several devices = new DeviceOption.Several();
        @Option(names = "--quick", description = "small shapes (a 256x256 matrix), for checking the command runs")
        boolean quick;
        @Option(names = "--max-vectors", defaultValue = "262144", paramLabel = "N",
                description = "vectors timed per case at most (default: ${DEFAULT-VALUE}); rows say how many were timed")
        long maxVectors;
        @Option(names = "--repeats", defaultValue = "3", paramLabel = "N", description = "timed runs per case; the median is reported")
        int repeats;
        @Option(names = "--json", description = "print one JSON object on stdout")
        boolean json;
        @Option(names = "--only", split = ",", paramLabel = "GROUP",
                description = "time only these groups of rows: assign (both forms), accumulate, dequant, hessian (default: all)")
        List<String> only;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            List<String> list = new ArrayList<>(devices.specs);
            if (!list.contains(DeviceOption.CPU)) {
                list.addFirst(DeviceOption.CPU);
            }
            Set<String> groups = Set.copyOf(only == null ? KernelBench.GROUPS : only);
            for (String g : groups) {
                if (!KernelBench.GROUPS.contains(g)) {
                    throw new CommandLine.ParameterException(spec.commandLine(), "--only: unknown group '" + g
                            + "' (" + String.join(", ", KernelBench.GROUPS) + ")");
                }
            }
            List<KernelBench.Case> cases = KernelBench.cases(quick);
            List<KernelBench.Row> rows = new ArrayList<>();
            Map<String, String> names = new LinkedHashMap<>();
            Map<String, double[]> peaks = new LinkedHashMap<>();
            for (String d : list) {
                try (Backend b = DeviceOption.openBackend(d, err)) {
                    names.put(d, b.name());
                    peaks.put(d, new double[]{b.peakGflops(), b.peakGBps()});
                    err.println("vq: timing " + b.name());
                    err.flush();
                    rows.addAll(KernelBench.run(b, d, cases, maxVectors, repeats, groups));
                }
            }
            Map<String, Double> cpu = new LinkedHashMap<>();
            for (KernelBench.Row r : rows) {
                if (r.device().equals("cpu")) {
                    cpu.put(r.kernel() + " " + r.shape(), r.seconds() / r.vectorsTimed());
                }
            }
            if (json) {
                ObjectNode o = Json.object();
                ObjectNode ds = o.putObject("devices");
                names.forEach(ds::put);
                ObjectNode ps = o.putObject("peaks");
                peaks.forEach((d, p) -> {
                    ObjectNode po = ps.putObject(d);
                    if (!Double.isNaN(p[0])) {
                        po.put("gflop_per_s", p[0]);
                    }
                    if (!Double.isNaN(p[1])) {
                        po.put("gb_per_s", p[1]);
                    }
                });
                ArrayNode a = o.putArray("rows");
                for (KernelBench.Row r : rows) {
                    ObjectNode ro = a.addObject();
                    ro.put("device", r.device());
                    ro.put("kernel", r.kernel());
                    ro.put("shape", r.shape());
                    ro.put("vectors_timed", r.vectorsTimed());
                    ro.put("vectors_full", r.vectorsFull());
                    ro.put("seconds", r.seconds());
                    if (!Double.isNaN(r.cpuSeconds())) {
                        ro.put("process_cpu_seconds", r.cpuSeconds());
                    }
                    if (r.gflops() > 0) {
                        ro.put("gflop_per_s", r.gflopsPerSecond());
                    } else {
                        ro.put("gb_per_s", r.gbytesPerSecond());
                    }
                    Double c = cpu.get(r.kernel() + " " + r.shape());
                    if (c != null) {
                        ro.put("speedup_vs_cpu", c / (r.seconds() / r.vectorsTimed()));
                    }
                    double f = fractionOfPeak(r, peaks.get(r.device()));
                    if (!Double.isNaN(f)) {
                        ro.put("fraction_of_peak", f);
                    }
                }
                out.println(Json.pretty(o));
            } else {
                names.forEach((k, v) -> out.printf("%-10s %s%n", k, v));
                peaks.forEach((d, p) -> {
                    if (!Double.isNaN(p[0]) || !Double.isNaN(p[1])) {
                        out.printf(Locale.ROOT, "%-10s peak %.0f GFLOP/s fp32, %.0f GB/s (from the device's clocks)%n",
                                d, p[0], p[1]);
                    }
                });
                out.printf("%-10s %-16s %-24s %12s %10s %10s %14s %7s %9s%n", "device", "kernel", "shape", "vectors", "ms",
                        "cpu ms", "throughput", "of peak", "vs cpu");
                for (KernelBench.Row r : rows) {
                    Double c = cpu.get(r.kernel() + " " + r.shape());
                    String tp = r.gflops() > 0 ? String.format(Locale.ROOT, "%.1f GFLOP/s", r.gflopsPerSecond())
                            : String.format(Locale.ROOT, "%.2f GB/s", r.gbytesPerSecond());
                    double f = fractionOfPeak(r, peaks.get(r.device()));
                    out.printf(Locale.ROOT, "%-10s %-16s %-24s %12s %10.2f %10.2f %14s %7s %8.2fx%n", r.device(),
                            r.kernel(), r.shape(), r.vectorsTimed() == r.vectorsFull() ? Long.toString(r.vectorsTimed())
                                    : r.vectorsTimed() + "/" + r.vectorsFull(), r.seconds() * 1e3, r.cpuSeconds() * 1e3, tp,
                            Double.isNaN(f) ? "-" : String.format(Locale.ROOT, "%.1f%%", 100 * f),
                            c == null ? Double.NaN : c / (r.seconds() / r.vectorsTimed()));
                }
                out.println("throughput counts 3·n·k·d flops for assign (the exact kernel: a ceiling of 75 % of the"
                        + " fp32 peak, weighted 67 %, before the running minimum's compare and select), the gemm's own"
                        + " 2·n·k·d for assign-gemm (weighted 4·n·k·d: a ceiling of 100 % for the gemm, before the"
                        + " scan of its n·k scores, which it writes and reads back: bandwidth-bound on a GPU at small d),"
                        + " 2·n·c² for the Hessian gemm, bytes read and"
                        + " written for accumulate, the packed weights (indices and codebook) plus x and y for dequant-matvec,"
                        + " 2·n·rows·cols flops for dequant-matmul (n input rows at once);"
                        + " 'cpu ms': the CPU time of the whole process over the same runs (median; every thread, the"
                        + " OpenCL runtime's included), the steadier figure on a loaded machine for devices on the host's"
                        + " cores;"
                        + " 'vectors' timed/full when a case was cut to --max-vectors; 'of peak' against the device's fp32"
                        + " or memory peak, where the backend knows it (CUDA: from SM count and clocks).");
            }
            out.flush();
            return 0;
        }
    }
}
