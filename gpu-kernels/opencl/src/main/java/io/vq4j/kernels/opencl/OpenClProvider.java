package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.BackendProvider;
import io.vq4j.kernels.Tuning;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** {@code --device opencl[:i]}: the OpenCL backend (JOCL; gemm by its own sgemm.cl). Under auto, the first OpenCL GPU. */
public final class OpenClProvider implements BackendProvider {
    @Override
    public String prefix() {
        return "opencl";
    }

    @Override
    public String syntax() {
        return "opencl[:i]";
    }

    @Override
    public int listRank() {
        return 10;
    }

    @Override
    public int autoRank() {
        return 20;
    }

    @Override
    public Backend openAuto() {
        String why = "no OpenCL GPU";
        for (OpenCl.DeviceInfo d : OpenCl.devices()) {
            if (!d.type().equals("GPU")) {
                continue;
            }
            try {
                return new OpenClBackend(d.index());
            } catch (RuntimeException e) {
                why = e.getMessage();
            }
        }
        if (OpenCl.devices().isEmpty()) {
            why = OpenCl.unavailableReason();
        }
        throw new IllegalStateException(why);
    }

    @Override
    public List<Listing> list() {
        List<Listing> out = new ArrayList<>();
        for (OpenCl.DeviceInfo d : OpenCl.devices()) {
            String tuning = Tuning.describe(d.description(), d.maxWorkGroupSize(), d.localMemory());
            out.add(new Listing("opencl:" + d.index(), "opencl", String.format(Locale.ROOT,
                    "%s — %s, %s, %d compute units, %.1f GiB, %d KiB local, %s%s; %s", d.name(), d.platform(),
                    d.type(), d.computeUnits(), d.globalMemory() / (double) (1L << 30), d.localMemory() >> 10,
                    d.version(), d.fp64() ? ", fp64" : "", tuning)));
        }
        if (OpenCl.devices().isEmpty()) {
            out.add(new Listing("opencl", "-", "unavailable: " + OpenCl.unavailableReason()));
        }
        return out;
    }

    @Override
    public Backend open(String spec) {
        return new OpenClBackend(BackendProvider.index(spec, prefix()));
    }

    @Override
    public boolean available() {
        return !OpenCl.devices().isEmpty();
    }

    @Override
    public String unavailableReason() {
        return OpenCl.unavailableReason();
    }
}
