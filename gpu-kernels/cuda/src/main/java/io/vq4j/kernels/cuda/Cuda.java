package io.vq4j.kernels.cuda;

import io.vq4j.kernels.KernelSource;
import io.vq4j.kernels.Tuning;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * CUDA through the JDK's FFM API: the driver (libcuda.so.1) for devices, memory and launches,
 * NVRTC for the kernels (vq.cl in its CUDA dialect), cuBLAS for GEMM. No JCuda, no toolkit at
 * build time: whatever versions the machine has are used. Each device is opened once per JVM
 * (its primary context, the compiled module and a cuBLAS handle) and shared by every backend.
 */
public final class Cuda {
    private Cuda() {
    }

    static final int CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1;
    static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8;
    static final int CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13;
    static final int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    static final int CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36;
    static final int CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37;
    static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    static final int CUDA_ERROR_OUT_OF_MEMORY = 2;
    static final int CUDA_ERROR_NO_DEVICE = 100;

    /**
     * One CUDA device as `vq devices` lists it. Clocks are in kHz (0 where the driver does not
     * report them); cc is the compute capability as 10·major + minor.
     */
    public record DeviceInfo(int index, String name, long globalMemory, int computeUnits, int cc,
                             int maxThreadsPerBlock, int sharedMemoryPerBlock, int clockKHz, int memoryClockKHz,
                             int busWidthBits) {
        /** "vendor | name | type | platform", what tuning profiles match against. */
        public String description() {
            return "NVIDIA Corporation | " + name + " | GPU | CUDA";
        }

        /** FP32 lanes per multiprocessor by architecture, or 0 for an architecture this table does not know. */
        public int fp32LanesPerUnit() {
            int major = cc / 10;
            return switch (major) {
                case 5 -> 128;
                case 6 -> cc == 60 ? 64 : 128;
                case 7 -> 64;
                case 8 -> cc == 80 ? 64 : 128;
                case 9, 10, 11, 12 -> 128;
                default -> 0;
            };
        }

        /** FP32 peak in GFLOP/s (a fused multiply-add counted as 2), NaN when not known. */
        public double peakGflops() {
            int lanes = fp32LanesPerUnit();
            return lanes == 0 || clockKHz <= 0 ? Double.NaN : 2.0 * lanes * computeUnits * clockKHz / 1e6;
        }

        /** Memory bandwidth peak in GB/s (double data rate on the bus), NaN when not known. */
        public double peakGBps() {
            return memoryClockKHz <= 0 || busWidthBits <= 0 ? Double.NaN
                    : 2.0 * memoryClockKHz * 1e3 * (busWidthBits / 8.0) / 1e9;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "cuda:%d %s (compute %d.%d, %d SMs, %.1f GiB)", index, name, cc / 10,
                    cc % 10, computeUnits, globalMemory / (double) (1L << 30));
        }
    }

    /** The driver's entry points. */
    static final class Driver {
        /** Every driver function vq4j calls, with its descriptor (checked against cuda.h by CudaBindingsTest). */
        static final Downcalls DOWNCALLS = new Downcalls("cuda.h", "libcuda")
                .add("cuInit", JAVA_INT, JAVA_INT)
                .add("cuDriverGetVersion", JAVA_INT, ADDRESS)
                .add("cuGetErrorName", JAVA_INT, JAVA_INT, ADDRESS)
                .add("cuDeviceGetCount", JAVA_INT, ADDRESS)
                .add("cuDeviceGet", JAVA_INT, ADDRESS, JAVA_INT)
                .add("cuDeviceGetName", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT)
                .add("cuDeviceTotalMem_v2", JAVA_INT, ADDRESS, JAVA_INT)
                .add("cuDeviceGetAttribute", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT)
                .add("cuDevicePrimaryCtxRetain", JAVA_INT, ADDRESS, JAVA_INT)
                .add("cuCtxSetCurrent", JAVA_INT, ADDRESS)
                .add("cuCtxSynchronize", JAVA_INT)
                .add("cuModuleLoadData", JAVA_INT, ADDRESS, ADDRESS)
                .add("cuModuleGetFunction", JAVA_INT, ADDRESS, ADDRESS, ADDRESS)
                .add("cuMemAlloc_v2", JAVA_INT, ADDRESS, JAVA_LONG)
                .add("cuMemFree_v2", JAVA_INT, JAVA_LONG)
                .add("cuMemcpyHtoD_v2", JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG)
                .add("cuMemcpyDtoH_v2", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG)
                .add("cuMemsetD8_v2", JAVA_INT, JAVA_LONG, JAVA_BYTE, JAVA_LONG)
                .add("cuMemGetInfo_v2", JAVA_INT, ADDRESS, ADDRESS)
                .add("cuLaunchKernel", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                        JAVA_INT, ADDRESS, ADDRESS, ADDRESS);

        final String path;
        final int version;
        final MethodHandle deviceGetCount;
        final MethodHandle deviceGet;
        final MethodHandle deviceGetName;
        final MethodHandle deviceTotalMem;
        final MethodHandle deviceGetAttribute;
        final MethodHandle primaryCtxRetain;
        final MethodHandle ctxSetCurrent;
        final MethodHandle ctxSynchronize;
        final MethodHandle moduleLoadData;
        final MethodHandle moduleGetFunction;
        final MethodHandle memAlloc;
        final MethodHandle memFree;
        final MethodHandle memcpyHtoD;
        final MethodHandle memcpyDtoH;
        final MethodHandle memsetD8;
        final MethodHandle memGetInfo;
        final MethodHandle launchKernel;
        final MethodHandle getErrorName;

        Driver(NativeLibrary lib) throws Throwable {
            path = lib.path;
            MethodHandle init = lib.function(DOWNCALLS, "cuInit");
            MethodHandle driverVersion = lib.function(DOWNCALLS, "cuDriverGetVersion");
            getErrorName = lib.function(DOWNCALLS, "cuGetErrorName");
            deviceGetCount = lib.function(DOWNCALLS, "cuDeviceGetCount");
            deviceGet = lib.function(DOWNCALLS, "cuDeviceGet");
            deviceGetName = lib.function(DOWNCALLS, "cuDeviceGetName");
            deviceTotalMem = lib.function(DOWNCALLS, "cuDeviceTotalMem_v2");
            deviceGetAttribute = lib.function(DOWNCALLS, "cuDeviceGetAttribute");
            primaryCtxRetain = lib.function(DOWNCALLS, "cuDevicePrimaryCtxRetain");
            ctxSetCurrent = lib.function(DOWNCALLS, "cuCtxSetCurrent");
            ctxSynchronize = lib.function(DOWNCALLS, "cuCtxSynchronize");
            moduleLoadData = lib.function(DOWNCALLS, "cuModuleLoadData");
            moduleGetFunction = lib.function(DOWNCALLS, "cuModuleGetFunction");
            memAlloc = lib.function(DOWNCALLS, "cuMemAlloc_v2");
            memFree = lib.function(DOWNCALLS, "cuMemFree_v2");
            memcpyHtoD = lib.function(DOWNCALLS, "cuMemcpyHtoD_v2");
            memcpyDtoH = lib.function(DOWNCALLS, "cuMemcpyDtoH_v2");
            memsetD8 = lib.function(DOWNCALLS, "cuMemsetD8_v2");
            memGetInfo = lib.function(DOWNCALLS, "cuMemGetInfo_v2");
            launchKernel = lib.function(DOWNCALLS, "cuLaunchKernel");
            check((int) init.invokeExact(0), "cuInit");
            try (Arena a = Arena.ofConfined()) {
                MemorySegment v = a.allocate(JAVA_INT);
                check((int) driverVersion.invokeExact(v), "cuDriverGetVersion");
                version = v.get(JAVA_INT, 0);
            }
        }

        String errorName(int status) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ADDRESS);
                if ((int) getErrorName.invokeExact(status, p) == 0) {
                    return p.get(ADDRESS, 0).reinterpret(128).getString(0);
                }
            } catch (Throwable e) {
                // fall through to the number
            }
            return "CUDA error " + status;
        }

        void check(int status, String call) {
            if (status != 0) {
                throw new CudaException(status, call + " failed: " + errorName(status));
            }
        }
    }

    /** A failed driver call, with its status. */
    static final class CudaException extends IllegalStateException {
        final int status;

        CudaException(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    private static volatile Driver driver;
    private static volatile List<DeviceInfo> devices;
    private static volatile String unavailable;
    private static final Map<Integer, Device> OPEN = new ConcurrentHashMap<>();

    /** Every CUDA device, or an empty list when there is no driver or no device. */
    public static List<DeviceInfo> devices() {
        if (devices == null) {
            synchronized (Cuda.class) {
                if (devices == null) {
                    devices = discover();
                }
            }
        }
        return devices;
    }

    /** Why no device is listed, or null. */
    public static String unavailableReason() {
        devices();
        return unavailable;
    }

    /** The driver's CUDA version as "13.0", or null without a driver. */
    public static String driverVersion() {
        devices();
        return driver == null ? null : driver.version / 1000 + "." + driver.version % 1000 / 10;
    }

    private static List<DeviceInfo> discover() {
        List<String> why = new ArrayList<>();
        var lib = NativeLibrary.open(System.getenv("VQ_LIBCUDA"), "libcuda", List.of("libcuda.so.1", "libcuda.so"), why);
        if (lib.isEmpty()) {
            unavailable = "no CUDA driver (libcuda.so.1 not found)";
            return List.of();
        }
        try {
            driver = new Driver(lib.get());
        } catch (CudaException e) {
            unavailable = e.status == CUDA_ERROR_NO_DEVICE ? "no CUDA device (the driver reports none)"
                    : "the CUDA driver does not start: " + e.getMessage();
            return List.of();
        } catch (Throwable e) {
            unavailable = "the CUDA driver at " + lib.get().path + " is unusable: " + e.getMessage();
            return List.of();
        }
        List<DeviceInfo> out = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            driver.check((int) driver.deviceGetCount.invokeExact(n), "cuDeviceGetCount");
            for (int i = 0; i < n.get(JAVA_INT, 0); i++) {
                MemorySegment dev = a.allocate(JAVA_INT);
                driver.check((int) driver.deviceGet.invokeExact(dev, i), "cuDeviceGet");
                int d = dev.get(JAVA_INT, 0);
                MemorySegment name = a.allocate(256);
                driver.check((int) driver.deviceGetName.invokeExact(name, 256, d), "cuDeviceGetName");
                MemorySegment mem = a.allocate(JAVA_LONG);
                driver.check((int) driver.deviceTotalMem.invokeExact(mem, d), "cuDeviceTotalMem");
                out.add(new DeviceInfo(i, name.getString(0).trim(), mem.get(JAVA_LONG, 0),
                        attribute(a, d, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
                        10 * attribute(a, d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
                                + attribute(a, d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
                        attribute(a, d, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK),
                        attribute(a, d, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK),
                        attribute(a, d, CU_DEVICE_ATTRIBUTE_CLOCK_RATE),
                        attribute(a, d, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE),
                        attribute(a, d, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH)));
            }
        } catch (RuntimeException e) {
            unavailable = "CUDA: " + e.getMessage();
            return List.of();
        } catch (Throwable e) {
            unavailable = "CUDA: " + e;
            return List.of();
        }
        if (out.isEmpty()) {
            unavailable = "no CUDA device (the driver reports none)";
        }
        return List.copyOf(out);
    }

    /** An attribute, or 0 where this driver does not have it. */
    private static int attribute(Arena a, int device, int attribute) throws Throwable {
        MemorySegment v = a.allocate(JAVA_INT);
        return (int) driver.deviceGetAttribute.invokeExact(v, attribute, device) == 0 ? v.get(JAVA_INT, 0) : 0;
    }

    /** Opens device i of {@link #devices()} (once per JVM). */
    static Device open(int index) {
        List<DeviceInfo> ds = devices();
        if (index < 0 || index >= ds.size()) {
            throw new IllegalArgumentException(ds.isEmpty() ? unavailableReason()
                    : "cuda:" + index + " does not exist (devices 0.." + (ds.size() - 1) + ")");
        }
        return OPEN.computeIfAbsent(index, i -> new Device(ds.get(i), driver));
    }

    /** The kernels' CUDA source compiled to PTX for a device of compute capability cc (no GPU needed). */
    public static byte[] compileKernels(Nvrtc nvrtc, int cc, int tile) {
        int arch = nvrtc.architectureFor(cc);
        return nvrtc.compile(KernelSource.cuda(tile), "vq.cu",
                List.of("--gpu-architecture=compute_" + arch, "-fmad=false", "-default-device"));
    }

    /** A device ready to run: its primary context, the loaded kernels and (when found) cuBLAS. */
    static final class Device {
        final DeviceInfo info;
        final Driver driver;
        final Tuning tuning;
        final MemorySegment context;
        final MemorySegment module;
        final Cublas cublas;
        final String cublasMissing;
        final Map<String, MemorySegment> functions = new ConcurrentHashMap<>();
        final String nvrtcVersion;

        Device(DeviceInfo info, Driver driver) {
            this.info = info;
            this.driver = driver;
            String label = "cuda:" + info.index() + " " + info.name();
            try {
                this.tuning = Tuning.forDevice(info.description(), info.maxThreadsPerBlock(),
                        info.sharedMemoryPerBlock());
            } catch (IllegalStateException e) {
                throw new IllegalStateException(label + ": " + e.getMessage());
            }
            Nvrtc nvrtc = Nvrtc.get();
            if (nvrtc == null) {
                throw new IllegalStateException(label + ": building the kernels failed: "
                        + Nvrtc.unavailableReason());
            }
            this.nvrtcVersion = nvrtc.version();
            byte[] ptx;
            try {
                ptx = compileKernels(nvrtc, info.cc(), tuning.tile());
            } catch (IllegalStateException e) {
                throw new IllegalStateException(label + ": building the kernels failed: " + e.getMessage());
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment dev = a.allocate(JAVA_INT);
                driver.check((int) driver.deviceGet.invokeExact(dev, info.index()), "cuDeviceGet");
                MemorySegment ctx = a.allocate(ADDRESS);
                driver.check((int) driver.primaryCtxRetain.invokeExact(ctx, dev.get(JAVA_INT, 0)),
                        "cuDevicePrimaryCtxRetain");
                this.context = ctx.get(ADDRESS, 0);
                driver.check((int) driver.ctxSetCurrent.invokeExact(context), "cuCtxSetCurrent");
                MemorySegment image = a.allocate(ptx.length + 1L);
                MemorySegment.copy(ptx, 0, image, JAVA_BYTE, 0, ptx.length);
                MemorySegment mod = a.allocate(ADDRESS);
                int status = (int) driver.moduleLoadData.invokeExact(mod, image);
                if (status != 0) {
                    throw new IllegalStateException(label + ": loading the kernels failed: "
                            + driver.errorName(status) + " (PTX from NVRTC " + nvrtc.version() + " at " + nvrtc.path
                            + ", driver CUDA " + driverVersion() + "; an NVRTC newer than the driver makes PTX"
                            + " the driver cannot read: set VQ_NVRTC to an older libnvrtc)");
                }
                this.module = mod.get(ADDRESS, 0);
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException(label + ": " + e, e);
            }
            Cublas blas = null;
            String missing = null;
            try {
                blas = Cublas.open(this);
            } catch (IllegalStateException e) {
                missing = e.getMessage();
            }
            this.cublas = blas;
            this.cublasMissing = missing;
        }

        /** Makes this device's context current on the calling thread. */
        void enter() {
            try {
                driver.check((int) driver.ctxSetCurrent.invokeExact(context), "cuCtxSetCurrent");
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException(e);
            }
        }

        MemorySegment function(String name) {
            return functions.computeIfAbsent(name, n -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment f = a.allocate(ADDRESS);
                    driver.check((int) driver.moduleGetFunction.invokeExact(f, module, a.allocateFrom(n)),
                            "cuModuleGetFunction " + n);
                    return f.get(ADDRESS, 0);
                } catch (RuntimeException e) {
                    throw e;
                } catch (Throwable e) {
                    throw new IllegalStateException(e);
                }
            });
        }
    }
}
