package io.vq4j.kernels.cuda;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.BackendProvider;
import io.vq4j.kernels.Tuning;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** {@code --device cuda[:i]}: the CUDA backend (FFM: driver, NVRTC, cuBLAS). Auto tries it first. */
public final class CudaProvider implements BackendProvider {
    @Override
    public String prefix() {
        return "cuda";
    }

    @Override
    public String syntax() {
        return "cuda[:i]";
    }

    @Override
    public int listRank() {
        return 20;
    }

    @Override
    public int autoRank() {
        return 10;
    }

    @Override
    public Backend openAuto() {
        List<String> reasons = new ArrayList<>();
        for (Cuda.DeviceInfo d : Cuda.devices()) {
            try {
                return new CudaBackend(d.index());
            } catch (RuntimeException e) {
                reasons.add(e.getMessage());
            }
        }
        if (Cuda.devices().isEmpty()) {
            reasons.add(Cuda.unavailableReason());
        }
        throw new IllegalStateException(String.join("; ", reasons));
    }

    @Override
    public List<Listing> list() {
        List<Listing> out = new ArrayList<>();
        for (Cuda.DeviceInfo d : Cuda.devices()) {
            String tuning = Tuning.describe(d.description(), d.maxThreadsPerBlock(), d.sharedMemoryPerBlock());
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
        return out;
    }

    @Override
    public Backend open(String spec) {
        return new CudaBackend(BackendProvider.index(spec, prefix()));
    }

    @Override
    public boolean available() {
        return !Cuda.devices().isEmpty();
    }

    @Override
    public String unavailableReason() {
        return Cuda.unavailableReason();
    }
}
