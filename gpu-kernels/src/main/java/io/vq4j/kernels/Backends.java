package io.vq4j.kernels;

import io.vq4j.core.InputException;
import io.vq4j.core.Parallel;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.opencl.OpenCl;
import io.vq4j.kernels.opencl.OpenClBackend;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/** Chooses the backend for --device: cpu, opencl[:i], or auto. */
public final class Backends {
    private Backends() {
    }

    /** One line per device for `vq devices`. */
    public record Listing(String device, String backend, String description) {
    }

    public static List<Listing> list() {
        List<Listing> out = new ArrayList<>();
        out.add(new Listing("cpu", "cpu", Runtime.getRuntime().availableProcessors() + " cores, "
                + Parallel.threads() + " threads, Vector API"));
        for (OpenCl.DeviceInfo d : OpenCl.devices()) {
            String tuning;
            try {
                Tuning t = Tuning.forDevice(d.description(), d.maxWorkGroupSize(), d.localMemory());
                tuning = String.format(Locale.ROOT, "profile %s: tile %d, groups %d/%d/%d", t.profile(), t.tile(),
                        t.assignGroup(), t.accumulateGroup(), t.packedGroup());
            } catch (IllegalStateException e) {
                tuning = "tuning: " + e.getMessage();
            }
            out.add(new Listing("opencl:" + d.index(), "opencl", String.format(Locale.ROOT,
                    "%s — %s, %s, %d compute units, %.1f GiB, %d KiB local, %s%s; %s", d.name(), d.platform(),
                    d.type(), d.computeUnits(), d.globalMemory() / (double) (1L << 30), d.localMemory() >> 10,
                    d.version(), d.fp64() ? ", fp64" : "", tuning)));
        }
        if (OpenCl.devices().isEmpty()) {
            out.add(new Listing("opencl", "-", "unavailable: " + OpenCl.unavailableReason()));
        }
        out.add(new Listing("cuda", "-", "unavailable: the CUDA backend is not built into this version"));
        return out;
    }

    /**
     * Opens a backend. auto takes the first OpenCL GPU that builds the kernels (PoCL and other
     * CPU platforms are skipped: the CPU backend is faster there) and otherwise the CPU; it says
     * which, and why, through {@code notice}.
     */
    public static Backend open(String spec, Consumer<String> notice) {
        String s = spec.toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) {
            return new CpuBackend();
        }
        if (s.equals("auto")) {
            String why = "no OpenCL GPU";
            for (OpenCl.DeviceInfo d : OpenCl.devices()) {
                if (!d.type().equals("GPU")) {
                    continue;
                }
                try {
                    OpenClBackend b = new OpenClBackend(d.index());
                    notice.accept("--device auto: using " + b.name());
                    return b;
                } catch (RuntimeException e) {
                    why = e.getMessage();
                }
            }
            if (OpenCl.devices().isEmpty()) {
                why = OpenCl.unavailableReason();
            }
            notice.accept("--device auto: using the CPU (" + why + ")");
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
            throw new InputException("--device " + spec + ": the CUDA backend is not built into this version");
        }
        throw new InputException("--device: unknown device '" + spec + "' (cpu, opencl[:i], auto; see vq devices)");
    }
}
