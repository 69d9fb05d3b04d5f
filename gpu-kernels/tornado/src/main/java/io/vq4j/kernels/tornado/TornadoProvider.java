package io.vq4j.kernels.tornado;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.BackendProvider;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.runtime.TornadoRuntimeProvider;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/**
 * --device tornado[:backend:device], registered through ServiceLoader. Without a TornadoVM
 * runtime in the JVM (the jar on the class path, but not started by scripts/vq --tornado) it
 * says so in one line instead of listing devices. {@code tornado} alone opens the device that
 * tornado-config/tornado.properties names (built into the jar; {@code -Dvq.tornado.device=B:D}
 * overrides it), else TornadoVM's default device.
 */
public final class TornadoProvider implements BackendProvider {
    @Override
    public String prefix() {
        return "tornado";
    }

    @Override
    public int listRank() {
        return 100;
    }

    @Override
    public String syntax() {
        return "tornado[:backend:device]";
    }

    /** Why TornadoVM cannot run here, or null when it can. */
    private static String problem() {
        try {
            var runtime = TornadoRuntimeProvider.getTornadoRuntime();
            int devices = 0;
            for (int b = 0; b < runtime.getNumBackends(); b++) {
                devices += runtime.getBackend(b).getNumDevices();
            }
            return devices == 0 ? "TornadoVM found no device" : null;
        } catch (Throwable e) { // no runtime classes, or a runtime that cannot start
            String m = e.getMessage();
            return "no TornadoVM runtime in this JVM (run scripts/vq --tornado with TORNADOVM_HOME set): "
                    + e.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
        }
    }

    @Override
    public boolean available() {
        return problem() == null;
    }

    @Override
    public String unavailableReason() {
        String p = problem();
        return p == null ? "available" : p;
    }

    @Override
    public List<Listing> list() {
        List<Listing> out = new ArrayList<>();
        String p = problem();
        if (p != null) {
            out.add(new Listing("tornado", "-", "unavailable: " + p));
            return out;
        }
        var runtime = TornadoRuntimeProvider.getTornadoRuntime();
        int[] def = defaultDevice();
        for (int b = 0; b < runtime.getNumBackends(); b++) {
            var backend = runtime.getBackend(b);
            for (int d = 0; d < backend.getNumDevices(); d++) {
                TornadoDevice dev = backend.getDevice(d);
                long[] groups = dev.getDeviceMaxWorkgroupDimensions();
                out.add(new Listing("tornado:" + b + ":" + d, "tornado", String.format(Locale.ROOT,
                        "%s — TornadoVM %s backend, %s, %s, %d compute units, %.1f GiB, %d KiB local, work-groups"
                                + " up to %d%s", dev.getPhysicalDevice().getDeviceName(), backend.getBackendType(),
                        dev.getPlatformName(), dev.getDeviceType(), dev.getPhysicalDevice().getDeviceMaxComputeUnits(),
                        dev.getMaxGlobalMemory() / (double) (1L << 30), dev.getDeviceLocalMemorySize() >> 10,
                        groups.length == 0 ? 0 : groups[0],
                        def[0] == b && def[1] == d ? "; --device tornado opens it" : "")));
            }
        }
        return out;
    }

    /** The device --device tornado means: vq.tornado.device, else tornado.properties, else 0:0. */
    static int[] defaultDevice() {
        String spec = System.getProperty("vq.tornado.device");
        if (spec == null || spec.isBlank()) {
            Properties p = new Properties();
            try (InputStream in = TornadoProvider.class.getResourceAsStream("/io/vq4j/tornado/tornado.properties")) {
                if (in != null) {
                    p.load(in);
                }
            } catch (IOException e) {
                throw new IllegalStateException("tornado.properties in the jar cannot be read: " + e.getMessage());
            }
            spec = p.getProperty("device", "").trim();
        }
        if (spec.isEmpty()) {
            return new int[]{0, 0};
        }
        return parse(spec, "device setting '" + spec + "'");
    }

    private static int[] parse(String bd, String what) {
        String[] parts = bd.split(":");
        try {
            if (parts.length == 2) {
                return new int[]{Integer.parseInt(parts[0]), Integer.parseInt(parts[1])};
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException(what + " is not BACKEND:DEVICE (two numbers, see vq devices)");
    }

    @Override
    public Backend open(String spec) {
        String s = spec.toLowerCase(Locale.ROOT);
        int[] bd = s.equals("tornado") ? defaultDevice() : parse(s.substring("tornado:".length()), "'" + spec + "'");
        String p = problem();
        if (p != null) {
            throw new IllegalStateException(p);
        }
        return new TornadoBackend(bd[0], bd[1]);
    }
}
