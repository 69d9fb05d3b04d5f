package io.vq4j.kernels.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * NVRTC, CUDA's runtime compiler, through the FFM API: CUDA C++ source to PTX. Any NVRTC
 * version works (11.2 and later have the supported-architecture query); it needs no GPU, so the
 * CUDA dialect of the kernels is compiled wherever libnvrtc is installed. The library is
 * libnvrtc.so from the loader's path, the CUDA toolkit or a Python nvidia-* wheel, or the file
 * named by VQ_NVRTC.
 */
public final class Nvrtc {
    private static final Object LOCK = new Object();
    private static volatile Nvrtc instance;
    private static volatile String unavailable;

    /** Every NVRTC function vq4j calls, with its descriptor (checked against nvrtc.h by CudaBindingsTest). */
    static final Downcalls DOWNCALLS = new Downcalls("nvrtc.h", "libnvrtc")
            .add("nvrtcVersion", JAVA_INT, ADDRESS, ADDRESS)
            .add("nvrtcCreateProgram", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS)
            .add("nvrtcCompileProgram", JAVA_INT, ADDRESS, JAVA_INT, ADDRESS)
            .add("nvrtcGetProgramLogSize", JAVA_INT, ADDRESS, ADDRESS)
            .add("nvrtcGetProgramLog", JAVA_INT, ADDRESS, ADDRESS)
            .add("nvrtcGetPTXSize", JAVA_INT, ADDRESS, ADDRESS)
            .add("nvrtcGetPTX", JAVA_INT, ADDRESS, ADDRESS)
            .add("nvrtcDestroyProgram", JAVA_INT, ADDRESS)
            .add("nvrtcGetErrorString", ADDRESS, JAVA_INT)
            .add("nvrtcGetCUBINSize", JAVA_INT, ADDRESS, ADDRESS)
            .add("nvrtcGetCUBIN", JAVA_INT, ADDRESS, ADDRESS)
            .add("nvrtcGetNumSupportedArchs", JAVA_INT, ADDRESS)
            .add("nvrtcGetSupportedArchs", JAVA_INT, ADDRESS);

    final String path;
    private final int major;
    private final int minor;
    private final int[] archs;
    private final MethodHandle create;
    private final MethodHandle compile;
    private final MethodHandle logSize;
    private final MethodHandle log;
    private final MethodHandle ptxSize;
    private final MethodHandle ptx;
    private final MethodHandle destroy;
    private final MethodHandle cubinSize;
    private final MethodHandle cubin;
    private final MethodHandle errorString;

    private Nvrtc(NativeLibrary lib) throws Throwable {
        this.path = lib.path;
        MethodHandle version = lib.function(DOWNCALLS, "nvrtcVersion");
        create = lib.function(DOWNCALLS, "nvrtcCreateProgram");
        compile = lib.function(DOWNCALLS, "nvrtcCompileProgram");
        logSize = lib.function(DOWNCALLS, "nvrtcGetProgramLogSize");
        log = lib.function(DOWNCALLS, "nvrtcGetProgramLog");
        ptxSize = lib.function(DOWNCALLS, "nvrtcGetPTXSize");
        ptx = lib.function(DOWNCALLS, "nvrtcGetPTX");
        destroy = lib.function(DOWNCALLS, "nvrtcDestroyProgram");
        errorString = lib.function(DOWNCALLS, "nvrtcGetErrorString");
        cubinSize = lib.has("nvrtcGetCUBINSize")
                ? lib.function(DOWNCALLS, "nvrtcGetCUBINSize") : null;
        cubin = lib.has("nvrtcGetCUBIN") ? lib.function(DOWNCALLS, "nvrtcGetCUBIN")
                : null;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ma = a.allocate(JAVA_INT);
            MemorySegment mi = a.allocate(JAVA_INT);
            check((int) version.invokeExact(ma, mi), "nvrtcVersion");
            major = ma.get(JAVA_INT, 0);
            minor = mi.get(JAVA_INT, 0);
            if (lib.has("nvrtcGetNumSupportedArchs")) {
                MethodHandle num = lib.function(DOWNCALLS, "nvrtcGetNumSupportedArchs");
                MethodHandle list = lib.function(DOWNCALLS, "nvrtcGetSupportedArchs");
                MemorySegment n = a.allocate(JAVA_INT);
                check((int) num.invokeExact(n), "nvrtcGetNumSupportedArchs");
                MemorySegment l = a.allocate(JAVA_INT, Math.max(1, n.get(JAVA_INT, 0)));
                check((int) list.invokeExact(l), "nvrtcGetSupportedArchs");
                archs = l.asSlice(0, (long) n.get(JAVA_INT, 0) * Integer.BYTES).toArray(JAVA_INT);
            } else {
                archs = new int[0];
            }
        }
    }

    /** The NVRTC of this machine, or null (see {@link #unavailableReason()}). */
    public static Nvrtc get() {
        if (instance == null && unavailable == null) {
            synchronized (LOCK) {
                if (instance == null && unavailable == null) {
                    List<String> why = new ArrayList<>();
                    var lib = NativeLibrary.open(System.getenv("VQ_NVRTC"), "libnvrtc",
                            List.of("libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"), why);
                    if (lib.isEmpty()) {
                        unavailable = "no NVRTC: " + String.join("; ", why);
                    } else {
                        try {
                            instance = new Nvrtc(lib.get());
                        } catch (Throwable e) {
                            unavailable = "NVRTC at " + lib.get().path + " is unusable: " + e.getMessage();
                        }
                    }
                }
            }
        }
        return instance;
    }

    public static String unavailableReason() {
        get();
        return unavailable;
    }

    /** e.g. "12.4". */
    public String version() {
        return major + "." + minor;
    }

    /** The virtual architectures this NVRTC compiles for (e.g. 52 … 90), empty when it cannot say. */
    public int[] supportedArchitectures() {
        return archs.clone();
    }

    /**
     * The architecture to compile for on a device of compute capability {@code cc} (e.g. 90):
     * the newest this NVRTC supports that is not newer than the device; the driver JIT-compiles
     * its PTX for the device.
     */
    public int architectureFor(int cc) {
        int best = -1;
        for (int a : archs) {
            if (a <= cc && a > best) {
                best = a;
            }
        }
        if (best < 0) {
            if (archs.length > 0) {
                throw new IllegalStateException("NVRTC " + version() + " cannot compile for compute capability "
                        + cc / 10 + "." + cc % 10 + " (it supports " + archs[0] / 10 + "." + archs[0] % 10 + " to "
                        + archs[archs.length - 1] / 10 + "." + archs[archs.length - 1] % 10 + ")");
            }
            return cc;
        }
        return best;
    }

    /** Compiles CUDA C++ to PTX (NUL-terminated); a failure names the first error of NVRTC's log. */
    public byte[] compile(String source, String name, List<String> options) {
        return build(source, name, options, false);
    }

    /**
     * Compiles CUDA C++ to a CUBIN for a real architecture (options must name sm_XY): the PTX
     * assembler runs too, so inline PTX is checked, without a GPU. NVRTC 11.1 and later.
     */
    public byte[] compileCubin(String source, String name, List<String> options) {
        if (cubin == null) {
            throw new IllegalStateException("NVRTC " + version() + " cannot make CUBINs");
        }
        return build(source, name, options, true);
    }

    private byte[] build(String source, String name, List<String> options, boolean binary) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prog = a.allocate(ADDRESS);
            check((int) create.invokeExact(prog, a.allocateFrom(source), a.allocateFrom(name), 0,
                    MemorySegment.NULL, MemorySegment.NULL), "nvrtcCreateProgram");
            MemorySegment p = prog.get(ADDRESS, 0);
            try {
                MemorySegment opts = a.allocate(ADDRESS, Math.max(1, options.size()));
                for (int i = 0; i < options.size(); i++) {
                    opts.setAtIndex(ADDRESS, i, a.allocateFrom(options.get(i)));
                }
                int status = (int) compile.invokeExact(p, options.size(), opts);
                if (status != 0) {
                    String text = programLog(a, p);
                    String first = text.lines().filter(l -> l.contains("error")).findFirst()
                            .orElse(text.isBlank() ? error(status) : text.lines().findFirst().orElse(""));
                    throw new IllegalStateException("NVRTC " + version() + " could not compile " + name + ": "
                            + first.trim());
                }
                MemorySegment size = a.allocate(JAVA_LONG);
                check((int) (binary ? cubinSize : ptxSize).invokeExact(p, size), "nvrtcGet" + (binary ? "CUBIN" : "PTX")
                        + "Size");
                MemorySegment out = a.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
                check((int) (binary ? cubin : ptx).invokeExact(p, out), binary ? "nvrtcGetCUBIN" : "nvrtcGetPTX");
                return out.asSlice(0, size.get(JAVA_LONG, 0)).toArray(ValueLayout.JAVA_BYTE);
            } finally {
                MemorySegment pp = a.allocate(ADDRESS);
                pp.set(ADDRESS, 0, p);
                int ignored = (int) destroy.invokeExact(pp);
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("NVRTC call failed: " + e, e);
        }
    }

    private String programLog(Arena a, MemorySegment p) throws Throwable {
        MemorySegment size = a.allocate(JAVA_LONG);
        if ((int) logSize.invokeExact(p, size) != 0) {
            return "";
        }
        MemorySegment text = a.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
        if ((int) log.invokeExact(p, text) != 0) {
            return "";
        }
        return text.getString(0, StandardCharsets.UTF_8);
    }

    private String error(int status) {
        try {
            MemorySegment s = (MemorySegment) errorString.invokeExact(status);
            return s.reinterpret(256).getString(0);
        } catch (Throwable e) {
            return "NVRTC error " + status;
        }
    }

    private void check(int status, String call) {
        if (status != 0) {
            throw new IllegalStateException(call + " failed: " + error(status));
        }
    }
}
