package io.vq4j.kernels.opencl;

import io.vq4j.kernels.GramSums;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.linalg.Gram;
import io.vq4j.kernels.linalg.InverseCholesky;
import io.vq4j.kernels.linalg.LinalgKernels;
import org.jocl.CL;
import org.jocl.CLException;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;
import org.jocl.cl_program;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongConsumer;

/**
 * accumulateGram and inverseCholeskyUpper of the OpenCL backend: linalg.cl's kernels, launched
 * in {@link LinalgKernels}' sequence, so H and U are the CPU's bits. The program is built once
 * per device, on first use. A device without fp64, or a matrix larger than one buffer may be,
 * runs the CPU's code (the same bits).
 */
final class OpenClLinalg {
    private static final Map<OpenCl.Device, cl_program> PROGRAMS = new ConcurrentHashMap<>();
    private static final Map<String, cl_kernel> KERNELS = new ConcurrentHashMap<>();

    /** The system property that picks the product kernel: auto (default), tiled or packed. */
    static final String PRODUCT_PROPERTY = "vq.cllinalg.product";

    /** The work-group width of the packed kernels' grids (runGlobal). */
    private static final int GROUP = 8;

    private final OpenCl.Device device;
    private final String name;
    private final LongConsumer allocated;
    /** dproduct.cl's packed product instead of la_product's tiles (the same bits). */
    private final boolean packed;

    /**
     * @param allocated counts device bytes made (positive) and released (negative) in the backend's peak.
     * The product kernel is {@value #PRODUCT_PROPERTY}'s choice, read here: auto takes the packed one
     * on a CPU-type device (PoCL), whose runtime runs a tiled work-group's barriers item by item.
     */
    OpenClLinalg(OpenCl.Device device, String name, LongConsumer allocated) {
        this.device = device;
        this.name = name;
        this.allocated = allocated;
        String mode = System.getProperty(PRODUCT_PROPERTY, "auto");
        this.packed = switch (mode) {
            case "auto" -> device.info.type().contains("CPU");
            case "packed" -> true;
            case "tiled" -> false;
            default -> throw new IllegalArgumentException("-D" + PRODUCT_PROPERTY + "=" + mode
                    + ": expected auto, tiled or packed");
        };
    }

    /** Which product kernel this device runs: "packed" or "tiled". */
    String productKernel() {
        return packed ? "packed" : "tiled";
    }

    /** Whether a buffer of {@code doubles} doubles may be made on this device. */
    private boolean fits(long doubles) {
        return device.info.fp64() && doubles * Sizeof.cl_double <= device.info.maxAlloc();
    }

    /** {@link io.vq4j.kernels.Backend#accumulateGram}; call under the device's lock. */
    void accumulateGram(float[] x, int rows, int dim, double[] h) {
        Gram.checkArguments(x, rows, dim, h);
        if (rows == 0 || dim == 0) {
            return;
        }
        if (!fits((long) dim * dim) || (long) rows * dim * Sizeof.cl_float > device.info.maxAlloc()) {
            Gram.accumulate(x, rows, dim, h);
            return;
        }
        try (Launcher l = new Launcher()) {
            cl_mem dx = l.in(Pointer.to(x), (long) rows * dim * Sizeof.cl_float);
            long hb = (long) dim * dim * Sizeof.cl_double;
            cl_mem dh = l.in(Pointer.to(h), hb);
            LinalgKernels.gram(l, dx, rows, dim, dh);
            CL.clEnqueueReadBuffer(device.queue, dh, true, 0, hb, Pointer.to(h), 0, null, null);
        } catch (CLException e) {
            throw failure("accumulateGram " + rows + "x" + dim, e);
        }
    }

    /**
     * {@link io.vq4j.kernels.Backend#gramSums}: the sums in one device buffer of dim² doubles, or null
     * where the device has no fp64 or no buffer may be that large (then the host's sums). Each call
     * of the sums takes the device's lock itself.
     */
    GramSums gramSums(int dim, OpenClBackend owner) {
        if (dim < 0) {
            throw new IllegalArgumentException("gramSums: width " + dim);
        }
        if (!fits((long) dim * dim)) {
            return null;
        }
        synchronized (device) {
            return new DeviceGram(dim, owner);
        }
    }

    /** Gram sums in device memory; the Gram of each batch is la_product's (LinalgKernels.gram), as accumulateGram's. */
    private final class DeviceGram implements GramSums {
        private final int dim;
        private final OpenClBackend owner;
        private final long bytes;
        private cl_mem sums;

        DeviceGram(int dim, OpenClBackend owner) {
            this.dim = dim;
            this.owner = owner;
            this.bytes = Math.max(Sizeof.cl_double, (long) dim * dim * Sizeof.cl_double);
            try {
                sums = CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE, bytes, null, null);
                allocated.accept(bytes);
                CL.clEnqueueFillBuffer(device.queue, sums, Pointer.to(new double[]{0.0}), Sizeof.cl_double, 0, bytes,
                        0, null, null);
            } catch (CLException e) {
                close();
                throw failure("gramSums " + dim + "x" + dim, e);
            }
        }

        @Override
        public int dim() {
            return dim;
        }

        @Override
        public void add(float[] x, int rows) {
            Gram.checkBatch(x, rows, dim);
            synchronized (device) {
                live();
                long rowBytes = Math.max(1, (long) dim * Sizeof.cl_float);
                int most = Gram.batchRows(rows, dim, device.info.maxAlloc()); // within one buffer
                for (int r0 = 0; r0 < rows && dim > 0; r0 += most) {
                    int n = Math.min(most, rows - r0);
                    try (Launcher l = new Launcher()) {
                        cl_mem dx = l.in(Pointer.to(x).withByteOffset((long) r0 * rowBytes), (long) n * rowBytes);
                        LinalgKernels.gram(l, dx, n, dim, sums);
                        CL.clFinish(device.queue);
                    } catch (CLException e) {
                        throw failure("gramSums.add " + n + "x" + dim, e);
                    }
                }
            }
        }

        @Override
        public void add(ResidentMatrix x, int rows) {
            if (x.cols() != dim) {
                throw new IllegalArgumentException("Gram sums of width " + dim + ", inputs of " + x.cols());
            }
            x.checkRegion("gramSums.add", 0, 0, rows, x.cols());
            OpenClBackend.ClMatrix m = owner.clMatrix(x);
            synchronized (device) {
                live();
                if (rows == 0 || dim == 0) {
                    return;
                }
                try (Launcher l = new Launcher()) {
                    LinalgKernels.gram(l, m.mem, rows, dim, sums);
                    CL.clFinish(device.queue);
                } catch (CLException e) {
                    throw failure("gramSums.add " + rows + "x" + dim, e);
                }
            }
        }

        @Override
        public double[] take() {
            synchronized (device) {
                live();
                double[] h = new double[Math.multiplyExact(dim, dim)];
                try {
                    if (h.length > 0) {
                        CL.clEnqueueReadBuffer(device.queue, sums, true, 0, (long) h.length * Sizeof.cl_double,
                                Pointer.to(h), 0, null, null);
                    }
                } catch (CLException e) {
                    throw failure("gramSums.take " + dim + "x" + dim, e);
                } finally {
                    close();
                }
                return h;
            }
        }

        private void live() {
            if (sums == null) {
                throw new IllegalStateException("these Gram sums were taken or closed");
            }
        }

        @Override
        public void close() {
            synchronized (device) {
                if (sums != null) {
                    CL.clReleaseMemObject(sums);
                    allocated.accept(-bytes);
                    sums = null;
                }
            }
        }
    }

    private IllegalStateException failure(String op, CLException e) {
        return new IllegalStateException(name + ": " + op + " failed: " + CL.stringFor_errorCode(e.getStatus()));
    }

    /** {@link io.vq4j.kernels.Backend#inverseCholeskyUpper}; call under the device's lock. */
    boolean inverseCholeskyUpper(double[] a, int n) {
        InverseCholesky.checkArguments(a, n);
        if (n == 0) {
            return true;
        }
        if (!fits((long) n * n)) {
            return InverseCholesky.inPlace(a, n);
        }
        long bytes = (long) n * n * Sizeof.cl_double;
        LinalgKernels.reverse(a, n * n);
        try (Launcher l = new Launcher()) {
            cl_mem da = l.in(Pointer.to(a), bytes);
            cl_mem inv = l.out((long) LinalgKernels.NB * LinalgKernels.NB * Sizeof.cl_double);
            long scratch = LinalgKernels.scratchDoubles(n) * Sizeof.cl_double;
            cl_mem panel = l.out(scratch);
            cl_mem t = l.out(scratch);
            int[] flag = {0};
            cl_mem fail = l.in(Pointer.to(flag), Sizeof.cl_int);
            LinalgKernels.factor(l, da, inv, panel, t, fail, n);
            CL.clEnqueueReadBuffer(device.queue, fail, true, 0, Sizeof.cl_int, Pointer.to(flag), 0, null, null);
            if (flag[0] != 0) {
                return false;
            }
            CL.clEnqueueReadBuffer(device.queue, da, true, 0, bytes, Pointer.to(a), 0, null, null);
        } catch (CLException e) {
            throw failure("inverseCholeskyUpper n=" + n, e);
        }
        LinalgKernels.reverse(a, n * n);
        return true;
    }

    private cl_kernel kernel(String k) {
        cl_program p = PROGRAMS.computeIfAbsent(device, d -> build());
        return KERNELS.computeIfAbsent(device.info.index() + "/" + k, x -> CL.clCreateKernel(p, k, null));
    }

    private cl_program build() {
        cl_program p = CL.clCreateProgramWithSource(device.context, 1, new String[]{LinalgKernels.opencl()}, null,
                null);
        try {
            CL.clBuildProgram(p, 0, null, "-cl-std=CL1.2", null, null);
        } catch (CLException e) {
            long[] size = new long[1];
            CL.clGetProgramBuildInfo(p, device.id, CL.CL_PROGRAM_BUILD_LOG, 0, null, size);
            byte[] log = new byte[(int) size[0]];
            CL.clGetProgramBuildInfo(p, device.id, CL.CL_PROGRAM_BUILD_LOG, size[0], Pointer.to(log), null);
            String first = new String(log, StandardCharsets.UTF_8).lines().filter(s -> s.contains("error"))
                    .findFirst().orElse(e.getMessage());
            throw new IllegalStateException(name + ": building the linear-algebra kernels failed: " + first.trim());
        }
        return p;
    }

    /** The buffers of one call (released together) and the launches of {@link LinalgKernels.Ops}. */
    private final class Launcher implements LinalgKernels.Ops<cl_mem>, AutoCloseable {
        private final List<cl_mem> mems = new ArrayList<>();
        private long bytes;

        cl_mem in(Pointer p, long size) {
            return keep(CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE | CL.CL_MEM_COPY_HOST_PTR, size, p,
                    null), size);
        }

        cl_mem out(long size) {
            return keep(CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE, Math.max(8, size), null, null),
                    Math.max(8, size));
        }

        private cl_mem keep(cl_mem m, long size) {
            mems.add(m);
            bytes += size;
            allocated.accept(size);
            return m;
        }

        private void run(String k, long gx, long gy, long lx, long ly, Object... args) {
            launch(k, new long[]{gx, gy}, new long[]{lx, ly}, args);
        }

        /**
         * A grid of at least gx × gy items (the kernel returns for items past its bounds) in work-groups of
         * one fixed shape, {@value #GROUP} × 1: PoCL compiles a kernel again for every work-group size, and
         * the size it picks itself follows the grid, which changes with every call of a factorisation.
         */
        private void runGlobal(String k, long gx, long gy, Object... args) {
            launch(k, new long[]{(gx + GROUP - 1) / GROUP * GROUP, gy}, new long[]{GROUP, 1}, args);
        }

        private void launch(String k, long[] global, long[] local, Object... args) {
            cl_kernel kn = kernel(k);
            for (int i = 0; i < args.length; i++) {
                Object v = args[i];
                if (v instanceof cl_mem m) {
                    CL.clSetKernelArg(kn, i, Sizeof.cl_mem, Pointer.to(m));
                } else if (v instanceof Long x) {
                    CL.clSetKernelArg(kn, i, Sizeof.cl_long, Pointer.to(new long[]{x}));
                } else {
                    CL.clSetKernelArg(kn, i, Sizeof.cl_int, Pointer.to(new int[]{(Integer) v}));
                }
            }
            CL.clEnqueueNDRangeKernel(device.queue, kn, 2, null, global, local, 0, null, null);
        }

        /** Work-items covering v in groups of TS, each item one element. */
        private static long up(long v) {
            return (v + LinalgKernels.TS - 1) / LinalgKernels.TS * LinalgKernels.TS;
        }

        /** Work-items covering v in groups of TS, each group PRODUCT_TILE elements. */
        private static long tiles(long v) {
            return (v + LinalgKernels.PRODUCT_TILE - 1) / LinalgKernels.PRODUCT_TILE * LinalgKernels.TS;
        }

        @Override
        public void product(boolean floats, cl_mem a, long ao, int ais, int aqs, cl_mem b, long bo, int bqs, int bjs,
                            cl_mem c, long co, int ldc, int mi, int nj, int kq, int kc, int mode, boolean lower,
                            boolean triA) {
            if (mi == 0 || nj == 0) {
                return;
            }
            int panels = (nj + LinalgKernels.PACKED_COLS - 1) / LinalgKernels.PACKED_COLS;
            long packBytes = Math.max(8, (long) panels * kq * LinalgKernels.PACKED_COLS * Sizeof.cl_double);
            if (packed && packBytes <= device.info.maxAlloc()) {
                // B packed into a buffer of this call only: released once enqueued (the in-order queue keeps it until done)
                cl_mem p = CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE, packBytes, null, null);
                allocated.accept(packBytes);
                try {
                    if (kq > 0) {
                        runGlobal(floats ? LinalgKernels.PACK_F : LinalgKernels.PACK_D, kq, panels, b, bo, bqs, bjs,
                                kq, nj, p);
                    }
                    runGlobal(floats ? LinalgKernels.PACKED_PRODUCT_F : LinalgKernels.PACKED_PRODUCT_D, panels,
                            (mi + LinalgKernels.PACKED_ROWS - 1) / LinalgKernels.PACKED_ROWS, a, ao, ais, aqs, p, c,
                            co, ldc, mi, nj, kq, kc, mode, lower ? 1 : 0, triA ? 1 : 0);
                } finally {
                    CL.clReleaseMemObject(p);
                    allocated.accept(-packBytes);
                }
                return;
            }
            run(floats ? LinalgKernels.PRODUCT_F : LinalgKernels.PRODUCT_D, tiles(nj), tiles(mi), LinalgKernels.TS,
                    LinalgKernels.TS, a, ao, ais, aqs, b, bo, bqs, bjs, c, co, ldc, mi, nj, kq, kc, mode,
                    lower ? 1 : 0, triA ? 1 : 0);
        }

        @Override
        public void potf2(cl_mem a, int n, int k0, int kb, cl_mem fail) {
            run(LinalgKernels.POTF2, LinalgKernels.NB, 1, LinalgKernels.NB, 1, a, n, k0, kb, fail);
        }

        @Override
        public void trtri(cl_mem l, long lo, int ldl, cl_mem x, long xo, int ldx, int kb) {
            run(LinalgKernels.TRTRI, LinalgKernels.NB, 1, LinalgKernels.NB, 1, l, lo, ldl, x, xo, ldx, kb);
        }

        @Override
        public void copy(cl_mem a, long ao, int n, int rows, int cols, cl_mem dst) {
            run(LinalgKernels.COPY, up(cols), up(rows), LinalgKernels.TS, LinalgKernels.TS, a, ao, n, rows, cols, dst);
        }

        @Override
        public void zeroUpper(cl_mem a, int n) {
            run(LinalgKernels.ZERO_UPPER, up(n), up(n), LinalgKernels.TS, LinalgKernels.TS, a, n);
        }

        @Override
        public void zero(cl_mem buf, long doubles) {
            CL.clEnqueueFillBuffer(device.queue, buf, Pointer.to(new double[]{0.0}), Sizeof.cl_double, 0,
                    doubles * Sizeof.cl_double, 0, null, null);
        }

        @Override
        public void close() {
            for (cl_mem m : mems) {
                CL.clReleaseMemObject(m);
            }
            allocated.accept(-bytes);
        }
    }
}
