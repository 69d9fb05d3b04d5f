package io.vq4j.kernels;

import io.vq4j.core.InputException;
import io.vq4j.core.Parallel;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.cuda.Cuda;
import io.vq4j.kernels.cuda.CudaBackend;
import io.vq4j.kernels.cuda.Nvrtc;
import io.vq4j.kernels.opencl.OpenCl;
import io.vq4j.kernels.opencl.OpenClBackend;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Chooses the backend for --device: cpu, cuda[:i], opencl[:i], auto, or a prefix that a
 * {@link BackendProvider} on the class path answers to (tornado[:backend:device]).
 */
public final class Backends {
    private Backends() {
    }

    /**
     * The backend providers on the class path, in class-path order. A provider whose jar is
     * present but whose runtime is not (its classes fail to link) is left out.
     */
    public static List<BackendProvider> providers() {
        List<BackendProvider> out = new ArrayList<>();
        try {
            java.util.Iterator<BackendProvider> it = java.util.ServiceLoader.load(BackendProvider.class).iterator();
            while (true) {
                try {
                    if (!it.hasNext()) {
                        break;
                    }
                    out.add(it.next());
                } catch (java.util.ServiceConfigurationError | LinkageError e) {
                    // a provider that cannot be instantiated here: it has no devices
                }
            }
        } catch (java.util.ServiceConfigurationError e) {
            // no readable provider list
        }
        return out;
    }

    /** One line per device for `vq devices`. */
    public record Listing(String device, String backend, String description) {
    }

    /** The tuning profile a device gets, as `vq devices` shows it, or why it has none. */
    private static String tuning(String description, long maxGroup, long localBytes) {
        try {
            Tuning t = Tuning.forDevice(description, maxGroup, localBytes);
            return String.format(Locale.ROOT, "profile %s: tile %d, groups %d/%d/%d", t.profile(), t.tile(),
                    t.assignGroup(), t.accumulateGroup(), t.packedGroup());
        } catch (IllegalStateException e) {
            return "tuning: " + e.getMessage();
        }
    }

    public static List<Listing> list() {
        List<Listing> out = new ArrayList<>();
        out.add(new Listing("cpu", "cpu", Runtime.getRuntime().availableProcessors() + " cores, "
                + Parallel.threads() + " threads, Vector API"));
        for (OpenCl.DeviceInfo d : OpenCl.devices()) {
            String tuning = tuning(d.description(), d.maxWorkGroupSize(), d.localMemory());
            out.add(new Listing("opencl:" + d.index(), "opencl", String.format(Locale.ROOT,
                    "%s — %s, %s, %d compute units, %.1f GiB, %d KiB local, %s%s; %s", d.name(), d.platform(),
                    d.type(), d.computeUnits(), d.globalMemory() / (double) (1L << 30), d.localMemory() >> 10,
                    d.version(), d.fp64() ? ", fp64" : "", tuning)));
        }
        if (OpenCl.devices().isEmpty()) {
            out.add(new Listing("opencl", "-", "unavailable: " + OpenCl.unavailableReason()));
        }
        for (Cuda.DeviceInfo d : Cuda.devices()) {
            String tuning = tuning(d.description(), d.maxThreadsPerBlock(), d.sharedMemoryPerBlock());
            Nvrtc nvrtc = Nvrtc.get();
            out.add(new Listing("cuda:" + d.index(), "cuda", String.format(Locale.ROOT,
                    "%s — compute %d.%d, %d SMs, %.1f GiB, %d KiB shared/block, peak %.1f TFLOP/s fp32, %.0f GB/s;"
                            + " driver CUDA %s, %s; %s", d.name(), d.cc() / 10, d.cc() % 10, d.computeUnits(),
                    d.globalMemory() / (double) (1L << 30), d.sharedMemoryPerBlock() >> 10, d.peakGflops() / 1e3,
                    d.peakGBps(), Cuda.driverVersion(),
                    nvrtc == null ? "kernels cannot be built: " + Nvrtc.unavailableReason()
                            : "NVRTC " + nvrtc.version(), tuning)));
        }
        if (Cuda.devices().isEmpty()) {
            out.add(new Listing("cuda", "-", "unavailable: " + Cuda.unavailableReason()));
        }
        for (BackendProvider p : providers()) {
            out.addAll(p.list());
        }
        return out;
    }

    /**
     * Opens a backend. auto takes the first CUDA device that builds the kernels, else the first
     * OpenCL GPU that does (PoCL and other CPU platforms are skipped: the CPU backend is faster
     * there), else the CPU; it says which, and why, through {@code notice}. A GPU comes wrapped in
     * {@link CpuFallback}: a call the device cannot run (out of memory) runs on the CPU, saying so.
     */
    public static Backend open(String spec, Consumer<String> notice) {
        String s = spec.toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) {
            return new CpuBackend();
        }
        if (s.equals("auto")) {
            List<String> reasons = new ArrayList<>();
            for (Cuda.DeviceInfo d : Cuda.devices()) {
                try {
                    CudaBackend b = new CudaBackend(d.index());
                    notice.accept("--device auto: using " + b.name());
                    return new CpuFallback(b, notice);
                } catch (RuntimeException e) {
                    reasons.add(e.getMessage());
                }
            }
            if (Cuda.devices().isEmpty()) {
                reasons.add(Cuda.unavailableReason());
            }
            String why = "no OpenCL GPU";
            for (OpenCl.DeviceInfo d : OpenCl.devices()) {
                if (!d.type().equals("GPU")) {
                    continue;
                }
                try {
                    OpenClBackend b = new OpenClBackend(d.index());
                    notice.accept("--device auto: using " + b.name());
                    return new CpuFallback(b, notice);
                } catch (RuntimeException e) {
                    why = e.getMessage();
                }
            }
            if (OpenCl.devices().isEmpty()) {
                why = OpenCl.unavailableReason();
            }
            reasons.add(why);
            notice.accept("--device auto: using the CPU (" + String.join("; ", reasons) + ")");
            return new CpuBackend();
        }
        if (s.equals("opencl") || s.startsWith("opencl:")) {
            int i = 0;
            if (s.startsWith("opencl:")) {
                try {
                    i = Integer.parseInt(s.substring(7));
                } catch (NumberFormatException e) {
                    throw new InputException("--device: '" + spec + "' is not opencl:N");
                }
            }
            try {
                return new OpenClBackend(i);
            } catch (IllegalArgumentException | IllegalStateException e) {
                throw new InputException("--device " + spec + ": " + e.getMessage());
            }
        }
        if (s.equals("cuda") || s.startsWith("cuda:")) {
            int i = 0;
            if (s.startsWith("cuda:")) {
                try {
                    i = Integer.parseInt(s.substring(5));
                } catch (NumberFormatException e) {
                    throw new InputException("--device: '" + spec + "' is not cuda:N");
                }
            }
            try {
                return new CudaBackend(i);
            } catch (IllegalArgumentException | IllegalStateException e) {
                throw new InputException("--device " + spec + ": " + e.getMessage());
            }
        }
        for (BackendProvider p : providers()) {
            if (s.equals(p.prefix()) || s.startsWith(p.prefix() + ":")) {
                try {
                    return p.open(s);
                } catch (IllegalArgumentException | IllegalStateException e) {
                    throw new InputException("--device " + spec + ": " + e.getMessage());
                }
            }
        }
        if (s.equals("tornado") || s.startsWith("tornado:")) {
            throw new InputException("--device " + spec + ": the TornadoVM backend is not loaded: build it with"
                    + " mvn -Ptornado install (TORNADOVM_HOME set) and run scripts/vq --tornado (see README)");
        }
        StringBuilder known = new StringBuilder("cpu, cuda[:i], opencl[:i], auto");
        for (BackendProvider p : providers()) {
            known.append(", ").append(p.syntax());
        }
        throw new InputException("--device: unknown device '" + spec + "' (" + known + "; see vq devices)");
    }
}
