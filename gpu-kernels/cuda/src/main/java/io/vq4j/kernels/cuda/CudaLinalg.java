package io.vq4j.kernels.cuda;

import io.vq4j.core.InputException;
import io.vq4j.kernels.GramSums;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.device.DeviceBudget;
import io.vq4j.kernels.linalg.Gram;
import io.vq4j.kernels.linalg.InverseCholesky;
import io.vq4j.kernels.linalg.LinalgKernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * accumulateGram and inverseCholeskyUpper of the CUDA backend: linalg.cl's kernels (compiled by
 * NVRTC with -fmad=false, once per device, on first use) launched on device pointers in
 * {@link LinalgKernels}' sequence, as OpenClLinalg launches them on OpenCL buffers, so H and U are
 * the CPU's bits. The factor works in place on one n×n device buffer ({@link #factorInPlace}).
 *
 * <p>The factor may instead run through cuSOLVER ({@link Cusolver}: potrf and trtri) where
 * libcusolver is found and {@value #FACTOR_PROPERTY} (or VQ_CUDA_FACTOR) is {@code cusolver}: its
 * sums run in cuSOLVER's order, so U differs from the CPU's in the last bits (CudaLinalgTest states
 * the tolerance); the default, {@code exact}, is the CPU's bits. Asked for where there is no
 * usable cuSOLVER, the exact path runs, and stderr says why once.
 *
 * <p>A matrix whose buffers would not fit the backend's per-call budget runs the CPU's code (the
 * same bits); a CUDA failure is one line naming the device and the call.
 */
final class CudaLinalg {
    /** System property choosing the factor's path: {@code exact} (linalg.cl, the default) or {@code cusolver}. */
    static final String FACTOR_PROPERTY = "vq.cuda.factor";
    private static final Map<Cuda.Device, MemorySegment> MODULES = new ConcurrentHashMap<>();
    private static final Map<String, MemorySegment> FUNCTIONS = new ConcurrentHashMap<>();

    private final Cuda.Device device;
    private final String name;
    private final LongConsumer allocated;
    private final Supplier<DeviceBudget> budget;

    /**
     * @param allocated counts device bytes made (positive) and released (negative) in the backend's peak
     * @param budget    the backend's per-call budget (read under the device's lock)
     */
    CudaLinalg(Cuda.Device device, String name, LongConsumer allocated, Supplier<DeviceBudget> budget) {
        this.device = device;
        this.name = name;
        this.allocated = allocated;
        this.budget = budget;
    }

    /** "exact" or "cusolver": {@value #FACTOR_PROPERTY}, else VQ_CUDA_FACTOR, else exact. */
    static String factorMode() {
        String v = System.getProperty(FACTOR_PROPERTY, System.getenv("VQ_CUDA_FACTOR"));
        if (v == null || v.isBlank()) {
            return "exact";
        }
        String m = v.trim().toLowerCase(Locale.ROOT);
        if (!m.equals("exact") && !m.equals("cusolver")) {
            throw new InputException(FACTOR_PROPERTY + " (or VQ_CUDA_FACTOR) must be exact or cusolver, not '"
                    + v + "'");
        }
        return m;
    }

    /** Whether buffers of {@code bytes} in all, none over {@code largest}, fit one call. */
    private boolean fits(long bytes, long largest) {
        DeviceBudget b = budget.get();
        return bytes <= b.callBytes() && largest <= b.maxBuffer();
    }

    /** {@link io.vq4j.kernels.Backend#accumulateGram}; call under the device's lock, its context current. */
    void accumulateGram(float[] x, int rows, int dim, double[] h) {
        Gram.checkArguments(x, rows, dim, h);
        if (rows == 0 || dim == 0) {
            return;
        }
        long xb = (long) rows * dim * Float.BYTES;
        long hb = (long) dim * dim * Double.BYTES;
        if (!fits(xb + hb, Math.max(xb, hb))) {
            Gram.accumulate(x, rows, dim, h);
            return;
        }
        String what = "accumulateGram " + rows + "x" + dim;
        try (Launcher l = new Launcher(what)) {
            long dx = l.in(x, (long) rows * dim);
            long dh = l.in(h, (long) dim * dim);
            LinalgKernels.gram(new CudaLinalgOps(l), dx, rows, dim, dh);
            l.out(dh, h, (long) dim * dim);
        } catch (Cuda.CudaException e) {
            throw failure(what, e);
        }
    }

    /**
     * {@link io.vq4j.kernels.Backend#gramSums}: the sums in one device allocation of dim² doubles, or
     * null where that would not fit the backend's budget (then the host's sums). Each call of the
     * sums takes the device's lock and makes its context current itself.
     */
    GramSums gramSums(int dim, CudaBackend owner) {
        if (dim < 0) {
            throw new IllegalArgumentException("gramSums: width " + dim);
        }
        long hb = (long) dim * dim * Double.BYTES;
        synchronized (device) {
            if (!fits(hb, hb)) {
                return null;
            }
            device.enter();
            return new DeviceGram(dim, owner);
        }
    }

    /**
     * Gram sums in device memory: each batch's Gram is la_product's (LinalgKernels.gram, as
     * accumulateGram's) added into the one buffer, so only the inputs move in (none for a resident
     * batch) and the sums move out once, at {@link #take()}.
     */
    private final class DeviceGram implements GramSums {
        private final int dim;
        private final CudaBackend owner;
        private final long bytes;
        private long sums;

        DeviceGram(int dim, CudaBackend owner) {
            this.dim = dim;
            this.owner = owner;
            this.bytes = Math.max(8, (long) dim * dim * Double.BYTES);
            String what = "gramSums " + dim + "x" + dim;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(JAVA_LONG);
                device.driver.check((int) device.driver.memAlloc.invokeExact(p, bytes), "cuMemAlloc of " + bytes
                        + " bytes");
                sums = p.get(JAVA_LONG, 0);
                allocated.accept(bytes);
                device.driver.check((int) device.driver.memsetD8.invokeExact(sums, (byte) 0, bytes), "cuMemsetD8");
            } catch (Cuda.CudaException e) {
                release();
                throw failure(what, e);
            } catch (RuntimeException e) {
                release();
                throw e;
            } catch (Throwable e) {
                release();
                throw new IllegalStateException(e);
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
                device.enter();
                live();
                DeviceBudget b = budget.get();
                int most = Gram.batchRows(rows, dim, Math.min(b.callBytes(), b.maxBuffer()));
                for (int r0 = 0; r0 < rows && dim > 0; r0 += most) {
                    int n = Math.min(most, rows - r0);
                    String what = "gramSums.add " + n + "x" + dim;
                    try (Launcher l = new Launcher(what)) {
                        long dx = l.in(x, (long) r0 * dim, (long) n * dim);
                        LinalgKernels.gram(new CudaLinalgOps(l), dx, n, dim, sums);
                    } catch (Cuda.CudaException e) {
                        throw failure(what, e);
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
            if (!(x instanceof CudaBackend.CuMatrix)) { // a host-side resident matrix (no cuBLAS): its rows in
                float[] v = new float[Math.multiplyExact(rows, dim)];
                owner.read(x, 0, 0, rows, dim, v, 0, dim);
                add(v, rows);
                return;
            }
            long dx = owner.rowPointer(x, 0);
            synchronized (device) {
                device.enter();
                live();
                if (rows == 0 || dim == 0) {
                    return;
                }
                String what = "gramSums.add " + rows + "x" + dim;
                try (Launcher l = new Launcher(what)) {
                    LinalgKernels.gram(new CudaLinalgOps(l), dx, rows, dim, sums);
                } catch (Cuda.CudaException e) {
                    throw failure(what, e);
                }
            }
        }

        @Override
        public double[] take() {
            synchronized (device) {
                device.enter();
                live();
                double[] h = new double[Math.multiplyExact(dim, dim)];
                String what = "gramSums.take " + dim + "x" + dim;
                try (Launcher l = new Launcher(what)) {
                    if (h.length > 0) {
                        l.out(sums, h, h.length);
                    }
                } catch (Cuda.CudaException e) {
                    throw failure(what, e);
                } finally {
                    close();
                }
                return h;
            }
        }

        private void live() {
            if (sums == 0) {
                throw new IllegalStateException("these Gram sums were taken or closed");
            }
        }

        @Override
        public void close() {
            synchronized (device) {
                release();
            }
        }

        private void release() {
            if (sums != 0) {
                try {
                    int ignored = (int) device.driver.memFree.invokeExact(sums);
                } catch (Throwable e) {
                    // freeing never fails in a way a caller could act on
                }
                allocated.accept(-bytes);
                sums = 0;
            }
        }
    }

    /** {@link io.vq4j.kernels.Backend#inverseCholeskyUpper}; call under the device's lock, its context current. */
    boolean inverseCholeskyUpper(double[] a, int n) {
        InverseCholesky.checkArguments(a, n);
        if (n == 0) {
            return true;
        }
        Cusolver solver = factorMode().equals("cusolver") ? Cusolver.forDevice(device) : null;
        boolean cusolver = solver != null;
        long ab = (long) n * n * Double.BYTES;
        long scratch = cusolver ? 0 : 2 * LinalgKernels.scratchDoubles(n) * Double.BYTES
                + (long) LinalgKernels.NB * LinalgKernels.NB * Double.BYTES;
        if (!fits(ab + scratch, ab)) {
            return InverseCholesky.inPlace(a, n);
        }
        String what = "inverseCholeskyUpper n=" + n + (cusolver ? " (cuSOLVER)" : "");
        LinalgKernels.reverse(a, n * n);
        boolean ok;
        try (Launcher l = new Launcher(what)) {
            long da = l.in(a, (long) n * n);
            ok = cusolver ? factorByCusolver(l, solver, da, n) : factorInPlace(l, da, n);
            if (ok) {
                l.out(da, a, (long) n * n);
            }
        } catch (Cuda.CudaException e) {
            throw failure(what, e);
        }
        if (!ok) {
            return false;
        }
        LinalgKernels.reverse(a, n * n);
        if (cusolver) { // cuSOLVER does not stop at a NaN pivot: the CPU's "not positive definite" is a bad diagonal
            for (int i = 0; i < n; i++) {
                double d = a[i * n + i];
                if (!(d > 0) || !Double.isFinite(d)) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * J U J from J H J on the device buffer {@code a} (n×n doubles, row-major), in place, in the CPU's
     * order; false when a pivot is not positive (a is then unspecified). The scratch buffers are
     * {@code l}'s and freed with it.
     */
    private boolean factorInPlace(Launcher l, long a, int n) {
        long inv = l.alloc((long) LinalgKernels.NB * LinalgKernels.NB * Double.BYTES);
        long scratch = LinalgKernels.scratchDoubles(n) * Double.BYTES;
        long panel = l.alloc(scratch);
        long t = l.alloc(scratch);
        long fail = l.zeros(Integer.BYTES);
        LinalgKernels.factor(new CudaLinalgOps(l), a, inv, panel, t, fail, n);
        return l.flag(fail) == 0;
    }

    /**
     * The same through cuSOLVER. The row-major buffer read column-major is its transpose, so the
     * row-major lower triangle (J H J's, after the reversal) is cuSOLVER's upper one: potrf(upper)
     * gives R with RᵀR = J H J, which row-major is L = Rᵀ; trtri(upper) gives R⁻¹, row-major L⁻¹; the
     * row-major strict upper (never written by cuSOLVER) is then zeroed by la_zero_upper.
     */
    private boolean factorByCusolver(Launcher l, Cusolver solver, long a, int n) {
        long info = l.zeros(Integer.BYTES);
        int lwork = solver.potrfBufferSize(n, a);
        long work = l.alloc((long) Math.max(1, lwork) * Double.BYTES);
        solver.potrf(n, a, work, lwork, info);
        if (l.flag(info) != 0) {
            return false;
        }
        long[] sizes = solver.trtriBufferSize(n, a);
        long dwork = l.alloc(Math.max(1, sizes[0]));
        // the host workspace lives with the call's buffers, until the stream has finished with it
        solver.trtri(n, a, dwork, sizes[0], l.hostBytes(sizes[1]), sizes[1], info);
        if (l.flag(info) != 0) { // a zero on R's diagonal: singular
            return false;
        }
        new CudaLinalgOps(l).zeroUpper(a, n);
        return true;
    }

    private RuntimeException failure(String what, Cuda.CudaException e) {
        String why = e.status == Cuda.CUDA_ERROR_OUT_OF_MEMORY ? "out of device memory" : e.getMessage();
        return new IllegalStateException(name + ": " + what + " failed: " + why, e);
    }

    // ---- the module ------------------------------------------------------------------------

    private MemorySegment function(String k) {
        MemorySegment module = MODULES.computeIfAbsent(device, d -> build());
        return FUNCTIONS.computeIfAbsent(device.info.index() + "/" + k, x -> {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment f = a.allocate(ADDRESS);
                device.driver.check((int) device.driver.moduleGetFunction.invokeExact(f, module, a.allocateFrom(k)),
                        "cuModuleGetFunction " + k);
                return f.get(ADDRESS, 0);
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private MemorySegment build() {
        Nvrtc nvrtc = Nvrtc.get();
        if (nvrtc == null) {
            throw new IllegalStateException(name + ": building the linear-algebra kernels failed: "
                    + Nvrtc.unavailableReason());
        }
        byte[] ptx;
        try {
            ptx = nvrtc.compile(LinalgKernels.cuda(), "linalg.cu", List.of("--gpu-architecture=compute_"
                    + nvrtc.architectureFor(device.info.cc()), "-fmad=false", "-default-device"));
        } catch (IllegalStateException e) {
            throw new IllegalStateException(name + ": building the linear-algebra kernels failed: " + e.getMessage());
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment image = a.allocate(ptx.length + 1L);
            MemorySegment.copy(ptx, 0, image, JAVA_BYTE, 0, ptx.length);
            MemorySegment mod = a.allocate(ADDRESS);
            int status = (int) device.driver.moduleLoadData.invokeExact(mod, image);
            if (status != 0) {
                throw new IllegalStateException(name + ": loading the linear-algebra kernels failed: "
                        + device.driver.errorName(status) + " (PTX from NVRTC " + nvrtc.version() + ")");
            }
            return mod.get(ADDRESS, 0);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- one call's buffers and CudaLinalgOps' launches on the driver ------------------------

    /** The device buffers of one call (freed together) and the launches on them. */
    private final class Launcher implements CudaLinalgOps.Target, AutoCloseable {
        private final String what;
        private final Arena host = Arena.ofConfined();
        private final List<Long> ptrs = new ArrayList<>();
        private long bytes;

        Launcher(String what) {
            this.what = what;
        }

        long alloc(long size) {
            size = Math.max(8, size);
            try {
                MemorySegment p = host.allocate(JAVA_LONG);
                device.driver.check((int) device.driver.memAlloc.invokeExact(p, size), "cuMemAlloc of " + size
                        + " bytes");
                long ptr = p.get(JAVA_LONG, 0);
                ptrs.add(ptr);
                bytes += size;
                allocated.accept(size);
                return ptr;
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException(e);
            }
        }

        long zeros(long size) {
            long p = alloc(size);
            memset(p, Math.max(8, size));
            return p;
        }

        long in(float[] v, long count) {
            return in(v, 0, count);
        }

        /** v[offset, offset + count) in a new device buffer. */
        long in(float[] v, long offset, long count) {
            long p = alloc(count * Float.BYTES);
            MemorySegment s = host.allocate(JAVA_FLOAT, count);
            MemorySegment.copy(v, Math.toIntExact(offset), s, JAVA_FLOAT, 0, Math.toIntExact(count));
            copy(p, s, true);
            return p;
        }

        long in(double[] v, long count) {
            long p = alloc(count * Double.BYTES);
            MemorySegment s = host.allocate(JAVA_DOUBLE, count);
            MemorySegment.copy(v, 0, s, JAVA_DOUBLE, 0, (int) count);
            copy(p, s, true);
            return p;
        }

        void out(long p, double[] dst, long count) {
            MemorySegment s = host.allocate(JAVA_DOUBLE, count);
            copy(p, s, false);
            MemorySegment.copy(s, JAVA_DOUBLE, 0, dst, 0, (int) count);
        }

        /** Host memory of at least {@code size} bytes, freed at close. */
        MemorySegment hostBytes(long size) {
            return host.allocate(Math.max(16, size), 16);
        }

        /** The int at device address p, after everything queued before it. */
        int flag(long p) {
            MemorySegment s = host.allocate(JAVA_INT);
            copy(p, s, false);
            return s.get(JAVA_INT, 0);
        }

        private void copy(long dev, MemorySegment s, boolean toDevice) {
            try {
                int status = toDevice ? (int) device.driver.memcpyHtoD.invokeExact(dev, s, s.byteSize())
                        : (int) device.driver.memcpyDtoH.invokeExact(s, dev, s.byteSize());
                device.driver.check(status, toDevice ? "cuMemcpyHtoD" : "cuMemcpyDtoH");
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException(e);
            }
        }

        private void memset(long p, long size) {
            try {
                device.driver.check((int) device.driver.memsetD8.invokeExact(p, (byte) 0, size), "cuMemsetD8");
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException(e);
            }
        }

        /** The launch on the null stream, in order; errors surface at the next copy or at close. */
        @Override
        public void launch(CudaLinalgOps.Launch k) {
            Object[] args = k.args();
            try (Arena a = Arena.ofConfined()) {
                MemorySegment params = a.allocate(ADDRESS, args.length);
                for (int i = 0; i < args.length; i++) {
                    MemorySegment v = args[i] instanceof Long x ? a.allocateFrom(JAVA_LONG, x)
                            : a.allocateFrom(JAVA_INT, (Integer) args[i]);
                    params.setAtIndex(ADDRESS, i, v);
                }
                device.driver.check((int) device.driver.launchKernel.invokeExact(function(k.kernel()), k.gridX(),
                        k.gridY(), 1, k.blockX(), k.blockY(), 1, 0, MemorySegment.NULL, params, MemorySegment.NULL),
                        "cuLaunchKernel " + k.kernel());
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void zero(long p, long size) {
            memset(p, size);
        }

        @Override
        public void close() {
            try {
                // every queued kernel has finished (or failed) before its buffers go
                device.driver.check((int) device.driver.ctxSynchronize.invokeExact(), what);
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException(e);
            } finally {
                for (long p : ptrs) {
                    try {
                        int ignored = (int) device.driver.memFree.invokeExact(p);
                    } catch (Throwable e) {
                        // freeing never fails in a way a caller could act on
                    }
                }
                allocated.accept(-bytes);
                host.close();
            }
        }
    }
}
