package io.vq4j.kernels.opencl;

import io.vq4j.kernels.KernelSource;
import io.vq4j.kernels.Tuning;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_command_queue;
import org.jocl.cl_context;
import org.jocl.cl_context_properties;
import org.jocl.cl_device_id;
import org.jocl.cl_kernel;
import org.jocl.cl_platform_id;
import org.jocl.cl_program;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * OpenCL through JOCL: device discovery, and one context, queue and built program per device,
 * shared by every backend instance in the JVM (building the kernels, and CLBlast's first
 * SGEMM, take seconds on PoCL; a test run pays them once).
 */
public final class OpenCl {
    private OpenCl() {
    }

    /** One OpenCL device, as `vq devices` lists it; index is its position in {@link #devices()}. */
    public record DeviceInfo(int index, String platform, String name, String vendor, String type, long globalMemory,
                             int computeUnits, long maxWorkGroupSize, boolean fp64, String version, long localMemory,
                             long maxAlloc) {
        /** "vendor | name | type | platform", what tuning profiles match against. */
        public String description() {
            return vendor + " | " + name + " | " + type + " | " + platform;
        }

        @Override
        public String toString() {
            return String.format("opencl:%d %s (%s, %s, %d compute units, %.1f GiB%s)", index, name, platform, type,
                    computeUnits, globalMemory / (double) (1L << 30), fp64 ? ", fp64" : "");
        }
    }

    /** A device ready to run: context, in-order queue, the built vq.cl program. */
    static final class Device {
        final DeviceInfo info;
        final cl_device_id id;
        final cl_context context;
        final cl_command_queue queue;
        final cl_program program;
        final Tuning tuning;
        final Map<String, cl_kernel> kernels = new ConcurrentHashMap<>();

        Device(DeviceInfo info, cl_platform_id platform, cl_device_id id) {
            this.info = info;
            this.id = id;
            try {
                this.tuning = Tuning.forDevice(info.description(), info.maxWorkGroupSize(),
                        info.localMemory());
            } catch (IllegalStateException e) {
                throw new IllegalStateException("opencl:" + info.index() + " " + info.name() + ": " + e.getMessage());
            }
            cl_context_properties props = new cl_context_properties();
            props.addProperty(CL.CL_CONTEXT_PLATFORM, platform);
            this.context = CL.clCreateContext(props, 1, new cl_device_id[]{id}, null, null, null);
            this.queue = CL.clCreateCommandQueueWithProperties(context, id, null, null);
            this.program = build(context, id, info, tuning.tile());
        }

        synchronized cl_kernel kernel(String name) {
            return kernels.computeIfAbsent(name, n -> CL.clCreateKernel(program, n, null));
        }
    }

    private static volatile List<DeviceInfo> devices;
    private static final Map<Integer, Device> OPEN = new ConcurrentHashMap<>();
    private static volatile String unavailable;

    /** Every OpenCL device of every platform, or an empty list when there is no OpenCL runtime. */
    public static List<DeviceInfo> devices() {
        if (devices == null) {
            synchronized (OpenCl.class) {
                if (devices == null) {
                    devices = discover();
                }
            }
        }
        return devices;
    }

    /** Why no device is listed (no ICD loader, no platform), or null. */
    public static String unavailableReason() {
        devices();
        return unavailable;
    }

    private static List<DeviceInfo> discover() {
        List<DeviceInfo> out = new ArrayList<>();
        try {
            CL.setExceptionsEnabled(true);
            int[] np = new int[1];
            CL.clGetPlatformIDs(0, null, np);
            cl_platform_id[] platforms = new cl_platform_id[np[0]];
            CL.clGetPlatformIDs(np[0], platforms, null);
            for (cl_platform_id p : platforms) {
                String pname = platformString(p, CL.CL_PLATFORM_NAME);
                int[] nd = new int[1];
                try {
                    CL.clGetDeviceIDs(p, CL.CL_DEVICE_TYPE_ALL, 0, null, nd);
                } catch (org.jocl.CLException e) {
                    continue; // a platform without devices
                }
                cl_device_id[] ds = new cl_device_id[nd[0]];
                CL.clGetDeviceIDs(p, CL.CL_DEVICE_TYPE_ALL, nd[0], ds, null);
                for (cl_device_id d : ds) {
                    long type = deviceLong(d, CL.CL_DEVICE_TYPE);
                    String t = (type & CL.CL_DEVICE_TYPE_GPU) != 0 ? "GPU"
                            : (type & CL.CL_DEVICE_TYPE_CPU) != 0 ? "CPU" : "accelerator";
                    String ext = deviceString(d, CL.CL_DEVICE_EXTENSIONS);
                    out.add(new DeviceInfo(out.size(), pname, deviceString(d, CL.CL_DEVICE_NAME).trim(),
                            deviceString(d, CL.CL_DEVICE_VENDOR).trim(), t, deviceLong(d, CL.CL_DEVICE_GLOBAL_MEM_SIZE),
                            deviceInt(d, CL.CL_DEVICE_MAX_COMPUTE_UNITS), deviceSizeT(d, CL.CL_DEVICE_MAX_WORK_GROUP_SIZE),
                            ext.contains("cl_khr_fp64"), deviceString(d, CL.CL_DEVICE_VERSION).trim(),
                            deviceLong(d, CL.CL_DEVICE_LOCAL_MEM_SIZE), deviceLong(d, CL.CL_DEVICE_MAX_MEM_ALLOC_SIZE)));
                }
            }
            if (out.isEmpty()) {
                unavailable = "no OpenCL device on any platform";
            }
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            unavailable = "no OpenCL runtime (" + e.getMessage() + "; install ocl-icd-libopencl1 and a driver, e.g. pocl-opencl-icd)";
        } catch (org.jocl.CLException e) {
            unavailable = "OpenCL: " + e.getMessage();
        }
        return List.copyOf(out);
    }

    /** Opens device i of {@link #devices()} (once per JVM). */
    static Device open(int index) {
        List<DeviceInfo> ds = devices();
        if (index < 0 || index >= ds.size()) {
            throw new IllegalArgumentException(ds.isEmpty() ? "no OpenCL device: " + unavailableReason()
                    : "opencl:" + index + " does not exist (devices 0.." + (ds.size() - 1) + ")");
        }
        return OPEN.computeIfAbsent(index, i -> {
            DeviceInfo info = ds.get(i);
            // find the platform and device handles again (JOCL handles are not kept in the record)
            int[] np = new int[1];
            CL.clGetPlatformIDs(0, null, np);
            cl_platform_id[] platforms = new cl_platform_id[np[0]];
            CL.clGetPlatformIDs(np[0], platforms, null);
            int at = 0;
            for (cl_platform_id p : platforms) {
                int[] nd = new int[1];
                try {
                    CL.clGetDeviceIDs(p, CL.CL_DEVICE_TYPE_ALL, 0, null, nd);
                } catch (org.jocl.CLException e) {
                    continue;
                }
                cl_device_id[] dev = new cl_device_id[nd[0]];
                CL.clGetDeviceIDs(p, CL.CL_DEVICE_TYPE_ALL, nd[0], dev, null);
                for (cl_device_id d : dev) {
                    if (at++ == i) {
                        return new Device(info, p, d);
                    }
                }
            }
            throw new IllegalStateException("opencl:" + i + " vanished");
        });
    }

    private static cl_program build(cl_context context, cl_device_id id, DeviceInfo info, int tile) {
        cl_program p = CL.clCreateProgramWithSource(context, 1, new String[]{KernelSource.opencl(info.fp64(), tile)}, null, null);
        try {
            CL.clBuildProgram(p, 0, null, "-cl-std=CL1.2", null, null);
        } catch (org.jocl.CLException e) {
            long[] size = new long[1];
            CL.clGetProgramBuildInfo(p, id, CL.CL_PROGRAM_BUILD_LOG, 0, null, size);
            byte[] log = new byte[(int) size[0]];
            CL.clGetProgramBuildInfo(p, id, CL.CL_PROGRAM_BUILD_LOG, size[0], Pointer.to(log), null);
            String first = new String(log, StandardCharsets.UTF_8).lines().filter(l -> l.contains("error"))
                    .findFirst().orElse(e.getMessage());
            throw new IllegalStateException("opencl:" + info.index() + " " + info.name()
                    + ": building the kernels failed: " + first.trim());
        }
        return p;
    }

    private static String platformString(cl_platform_id p, int param) {
        long[] size = new long[1];
        CL.clGetPlatformInfo(p, param, 0, null, size);
        byte[] b = new byte[(int) size[0]];
        CL.clGetPlatformInfo(p, param, b.length, Pointer.to(b), null);
        return new String(b, 0, Math.max(0, b.length - 1), StandardCharsets.UTF_8);
    }

    private static String deviceString(cl_device_id d, int param) {
        long[] size = new long[1];
        CL.clGetDeviceInfo(d, param, 0, null, size);
        byte[] b = new byte[(int) size[0]];
        CL.clGetDeviceInfo(d, param, b.length, Pointer.to(b), null);
        return new String(b, 0, Math.max(0, b.length - 1), StandardCharsets.UTF_8);
    }

    private static long deviceLong(cl_device_id d, int param) {
        long[] v = new long[1];
        CL.clGetDeviceInfo(d, param, Sizeof.cl_long, Pointer.to(v), null);
        return v[0];
    }

    private static int deviceInt(cl_device_id d, int param) {
        int[] v = new int[1];
        CL.clGetDeviceInfo(d, param, Sizeof.cl_int, Pointer.to(v), null);
        return v[0];
    }

    private static long deviceSizeT(cl_device_id d, int param) {
        long[] v = new long[1];
        CL.clGetDeviceInfo(d, param, Sizeof.size_t, Pointer.to(v), null);
        return v[0];
    }
}
