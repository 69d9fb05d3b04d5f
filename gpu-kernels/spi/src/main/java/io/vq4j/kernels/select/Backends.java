package io.vq4j.kernels.select;

import io.vq4j.core.InputException;
import io.vq4j.core.Parallel;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.BackendProvider;
import io.vq4j.kernels.BackendProvider.Listing;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.device.CpuFallback;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.function.Consumer;

/**
 * Chooses the backend for --device: cpu, auto, or a prefix that a {@link BackendProvider} on
 * the class path answers to (cuda[:i], opencl[:i], tornado[:backend:device]).
 */
public final class Backends {
    private Backends() {
    }

    /**
     * The backend providers on the class path, in {@link BackendProvider#listRank} order. A
     * provider whose jar is present but whose runtime is not (its classes fail to link) is left out.
     */
    public static List<BackendProvider> providers() {
        List<BackendProvider> out = new ArrayList<>();
        try {
            Iterator<BackendProvider> it = ServiceLoader.load(BackendProvider.class).iterator();
            while (true) {
                try {
                    if (!it.hasNext()) {
                        break;
                    }
                    out.add(it.next());
                } catch (ServiceConfigurationError | LinkageError e) {
                    // a provider that cannot be instantiated here: it has no devices
                }
            }
        } catch (ServiceConfigurationError e) {
            // no readable provider list
        }
        out.sort(Comparator.comparingInt(BackendProvider::listRank));
        return out;
    }

    /** The providers --device auto asks, in order. */
    private static List<BackendProvider> autoProviders() {
        List<BackendProvider> out = new ArrayList<>(providers().stream().filter(p -> p.autoRank() >= 0).toList());
        out.sort(Comparator.comparingInt(BackendProvider::autoRank));
        return out;
    }

    public static List<Listing> list() {
        List<Listing> out = new ArrayList<>();
        out.add(new Listing("cpu", "cpu", Runtime.getRuntime().availableProcessors() + " cores, "
                + Parallel.threads() + " threads, Vector API"));
        for (BackendProvider p : providers()) {
            out.addAll(p.list());
        }
        return out;
    }

    /**
     * Opens a backend. auto asks each provider that takes part ({@link BackendProvider#autoRank}:
     * CUDA, then an OpenCL GPU; PoCL and other CPU platforms are skipped, the CPU backend is faster
     * there), else takes the CPU; it says which, and why, through {@code notice}. A GPU comes
     * wrapped in {@link CpuFallback}: a call the device cannot run (out of memory) runs on the
     * CPU, saying so.
     */
    public static Backend open(String spec, Consumer<String> notice) {
        String s = spec.toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) {
            return new CpuBackend();
        }
        List<BackendProvider> providers = providers();
        if (s.equals("auto")) {
            List<String> reasons = new ArrayList<>();
            for (BackendProvider p : autoProviders()) {
                try {
                    Backend b = p.openAuto();
                    notice.accept("--device auto: using " + b.name());
                    return new CpuFallback(b, notice);
                } catch (RuntimeException e) {
                    reasons.add(e.getMessage());
                }
            }
            notice.accept("--device auto: using the CPU (" + String.join("; ", reasons) + ")");
            return new CpuBackend();
        }
        for (BackendProvider p : providers) {
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
        StringBuilder known = new StringBuilder("cpu");
        for (BackendProvider p : autoProviders()) {
            known.append(", ").append(p.syntax());
        }
        known.append(", auto");
        for (BackendProvider p : providers) {
            if (p.autoRank() < 0) {
                known.append(", ").append(p.syntax());
            }
        }
        throw new InputException("--device: unknown device '" + spec + "' (" + known + "; see vq devices)");
    }
}
