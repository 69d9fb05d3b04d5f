package io.vq4j.kernels.cuda;

import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.GramSums;
import io.vq4j.kernels.HostMatrix;
import io.vq4j.kernels.KernelSource;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.Tuning;
import io.vq4j.kernels.assign.GemmAssign;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.device.DeviceMatrix;
import io.vq4j.kernels.device.DeviceWeights;
import io.vq4j.kernels.device.GpuArguments;
import io.vq4j.kernels.device.GpuBackend;
import io.vq4j.kernels.device.Partials;
import io.vq4j.kernels.device.Tiles;
import io.vq4j.kernels.device.Tiles.Tile;
import io.vq4j.kernels.packed.PackedMatrix;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The compute SPI on a CUDA device: GEMM by cuBLAS, the VQ kernels of vq.cl compiled by NVRTC
 * with -fmad=false. Like the OpenCL backend it copies host arrays in and results out on every
 * call, computes the assignment and the packed kernels in the CPU backend's operation order
 * (the same bits), and sums the M-step in the CPU backend's partials of 4,096 vectors. Tiles,
 * partials and the packed uploads' bookkeeping are {@link GpuBackend}'s; calls run under the
 * device's lock, in its context. The Hessian and its factor are {@link CudaLinalg}'s.
 */
public final class CudaBackend extends GpuBackend<CudaBackend.CuPacked> {
    private final Cuda.Device device;
    private final CudaLinalg linalg;

    public CudaBackend(int index) {
        this(Cuda.open(index));
    }

    private CudaBackend(Cuda.Device device) {
        super(device, device.info.globalMemory(), Long.MAX_VALUE); // no single-buffer limit to respect
        this.device = device;
        this.linalg = new CudaLinalg(device, name(), this::allocated, this::budget);
    }

    public Cuda.DeviceInfo info() {
        return device.info;
    }

    @Override
    public Tuning tuning() {
        return device.tuning;
    }

    /** Where GEMM runs: "cuBLAS (path)" or why it falls back to the CPU. */
    public String gemmProvider() {
        return device.cublas != null ? "cuBLAS (" + device.cublas.path + ")"
                : "the CPU (" + device.cublasMissing + ")";
    }

    public String nvrtcVersion() {
        return device.nvrtcVersion;
    }

    @Override
    public String name() {
        return "cuda:" + device.info.index() + " " + device.info.name();
    }

    @Override
    public double peakGflops() {
        return device.info.peakGflops();
    }

    @Override
    public double peakGBps() {
        return device.info.peakGBps();
    }

    private RuntimeException failure(String op, RuntimeException e) {
        String what = e instanceof Cuda.CudaException ce && ce.status == Cuda.CUDA_ERROR_OUT_OF_MEMORY
                ? "out of device memory" : e.getMessage();
        return failed(op, what);
    }

    // ---- device memory -------------------------------------------------------------------

    private long malloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(JAVA_LONG);
            device.driver.check((int) device.driver.memAlloc.invokeExact(p, Math.max(1, bytes)),
                    "cuMemAlloc of " + bytes + " bytes");
            return p.get(JAVA_LONG, 0);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    private void free(long ptr) {
        try {
            int ignored = (int) device.driver.memFree.invokeExact(ptr);
        } catch (Throwable e) {
            // freeing never fails in a way a caller could act on
        }
    }

    private void toDevice(long dst, MemorySegment src) {
        try {
            device.driver.check((int) device.driver.memcpyHtoD.invokeExact(dst, src, src.byteSize()), "cuMemcpyHtoD");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    private void toHost(MemorySegment dst, long src) {
        try {
            device.driver.check((int) device.driver.memcpyDtoH.invokeExact(dst, src, dst.byteSize()), "cuMemcpyDtoH");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    private void zero(long ptr, long bytes) {
        try {
            device.driver.check((int) device.driver.memsetD8.invokeExact(ptr, (byte) 0, bytes), "cuMemsetD8");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** Device buffers of one call, freed together. */
    private final class Buffers implements AutoCloseable {
        final Arena host = Arena.ofConfined();
        final List<Long> ptrs = new ArrayList<>();
        long bytes;

        long alloc(long size) {
            size = Math.max(1, size);
            long p = malloc(size);
            ptrs.add(p);
            bytes += size;
            allocated(size);
            return p;
        }

        long in(float[] a, int from, long count) {
            long p = alloc(count * Float.BYTES);
            if (count > 0) {
                MemorySegment s = host.allocate(JAVA_FLOAT, count);
                MemorySegment.copy(a, from, s, JAVA_FLOAT, 0, (int) count);
                toDevice(p, s);
            }
            return p;
        }

        long in(int[] a, int from, long count) {
            long p = alloc(count * Integer.BYTES);
            if (count > 0) {
                MemorySegment s = host.allocate(JAVA_INT, count);
                MemorySegment.copy(a, from, s, JAVA_INT, 0, (int) count);
                toDevice(p, s);
            }
            return p;
        }

        long zeros(long size) {
            long p = alloc(size);
            zero(p, Math.max(1, size));
            return p;
        }

        void out(long ptr, float[] dst, int from, long count) {
            MemorySegment s = host.allocate(JAVA_FLOAT, Math.max(1, count));
            toHost(s.asSlice(0, count * Float.BYTES), ptr);
            MemorySegment.copy(s, JAVA_FLOAT, 0, dst, from, (int) count);
        }

        void out(long ptr, int[] dst, int from, long count) {
            MemorySegment s = host.allocate(JAVA_INT, Math.max(1, count));
            toHost(s.asSlice(0, count * Integer.BYTES), ptr);
            MemorySegment.copy(s, JAVA_INT, 0, dst, from, (int) count);
        }

        void out(long ptr, double[] dst, long count) {
            MemorySegment s = host.allocate(JAVA_DOUBLE, Math.max(1, count));
            toHost(s.asSlice(0, count * Double.BYTES), ptr);
            MemorySegment.copy(s, JAVA_DOUBLE, 0, dst, 0, (int) count);
        }

        @Override
        public void close() {
            for (long p : ptrs) {
                free(p);
            }
            allocated(-bytes);
            host.close();
        }
    }

    /** A kernel argument: a device pointer or an int. */
    private record Ptr(long value) {
    }

    /** Launches kernel {@code name} on blocks of {@code block} threads, enough to cover {@code threads}. */
    private void launch(String name, long threads, int block, Object... args) {
        long grid = (threads + block - 1) / block;
        if (grid > Integer.MAX_VALUE) {
            throw new IllegalStateException(name + ": " + threads + " threads is more than one launch can hold");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment params = a.allocate(ADDRESS, args.length);
            for (int i = 0; i < args.length; i++) {
                MemorySegment v;
                if (args[i] instanceof Ptr p) {
                    v = a.allocateFrom(JAVA_LONG, p.value());
                } else if (args[i] instanceof Integer x) {
                    v = a.allocateFrom(JAVA_INT, x);
                } else if (args[i] instanceof Float x) {
                    v = a.allocateFrom(JAVA_FLOAT, x);
                } else {
                    throw new IllegalArgumentException("kernel argument " + args[i]);
                }
                params.setAtIndex(ADDRESS, i, v);
            }
            device.driver.check((int) device.driver.launchKernel.invokeExact(device.function(name), (int) grid, 1, 1,
                    block, 1, 1, 0, MemorySegment.NULL, params, MemorySegment.NULL), "cuLaunchKernel " + name);
            device.driver.check((int) device.driver.ctxSynchronize.invokeExact(), name);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- the SPI ---------------------------------------------------------------------------

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, float[] b,
                     float beta, float[] c) {
        GpuArguments.gemm(m, n, k, a, b, c);
        if (m == 0 || n == 0) {
            return;
        }
        if (device.cublas == null) {
            new CpuBackend().gemm(transA, transB, m, n, k, alpha, a, b, beta, c);
            return;
        }
        if (k == 0) {
            scaleOnly(beta, c, m * n);
            return;
        }
        synchronized (device) {
            device.enter();
            try (Buffers buf = new Buffers()) {
                long da = buf.in(a, 0, (long) m * k);
                long db = buf.in(b, 0, (long) k * n);
                long dc = beta == 0f ? buf.zeros((long) m * n * Float.BYTES) : buf.in(c, 0, (long) m * n);
                int status = device.cublas.sgemmRowMajor(transA, transB, m, n, k, alpha, da, db,
                        beta == 0f ? 0f : beta, dc);
                if (status != 0) {
                    throw new IllegalStateException(name() + ": gemm failed: cuBLAS status " + status
                            + (status == 3 ? " (CUBLAS_STATUS_ALLOC_FAILED: out of device memory)" : ""));
                }
                buf.out(dc, c, 0, (long) m * n);
            } catch (Cuda.CudaException e) {
                throw failure(gemmCall(m, n, k), e);
            }
        }
    }

    @Override
    public void assignNearest(float[] vectors, float[] weights, int n, int d, float[] codebook, int k, int[] index,
                              float[] distance) {
        GpuArguments.assignNearest(vectors, weights, n, d, codebook, k, index, distance);
        if (n == 0) {
            return;
        }
        synchronized (device) {
            device.enter();
            int group = device.tuning.assignGroup();
            Tiles tiles = assignTiles(n, d, k, weights != null);
            try (Buffers fixed = new Buffers()) {
                long dcb = fixed.in(codebook, 0, (long) k * d);
                for (Tile t : tiles) {
                    int from = t.from();
                    int m = t.count();
                    try (Buffers buf = new Buffers()) {
                        long dx = buf.in(vectors, from * d, (long) m * d);
                        long dw = weights == null ? dx : buf.in(weights, from * d, (long) m * d);
                        long di = buf.alloc((long) m * Integer.BYTES);
                        long dd = buf.alloc((long) m * Float.BYTES);
                        // VL vectors per thread: ceil(m / (group * VL)) blocks of group threads
                        long perGroup = (long) group * KernelSource.CUDA_LANES;
                        launch("assign_nearest_" + d, (m + perGroup - 1) / perGroup * group, group, new Ptr(dx), new Ptr(dw), weights == null ? 0 : 1, m, d,
                                new Ptr(dcb), k, new Ptr(di), new Ptr(dd));
                        buf.out(di, index, from, m);
                        buf.out(dd, distance, from, m);
                    }
                }
            } catch (Cuda.CudaException e) {
                throw failure(assignCall(n, d, k), e);
            }
        }
    }

    /**
     * The matmul form as the OpenCL backend's ({@link GemmAssign}): cuBLAS's SGEMM into a tile of
     * scores, assign_gemm.cl's running argmin over it; without cuBLAS the SPI's default (this
     * backend's gemm, then the CPU's).
     */
    @Override
    public void assignNearestGemm(float[] vectors, float[] weights, int n, int d, float[] codebook, int k,
                                  int[] index, float[] distance) {
        GpuArguments.assignNearest(vectors, weights, n, d, codebook, k, index, distance);
        if (n == 0) {
            return;
        }
        if (device.cublas == null) {
            super.assignNearestGemm(vectors, weights, n, d, codebook, k, index, distance);
            return;
        }
        boolean weighted = weights != null;
        int m = GemmAssign.width(d, weighted);
        int nt = Math.min(n, GemmAssign.VECTOR_TILE);
        int kt = Math.min(k, GemmAssign.CENTROID_TILE);
        float[] best = new float[nt];
        int[] at = new int[nt];
        synchronized (device) {
            device.enter();
            try (Buffers fixed = new Buffers()) {
                long dc = fixed.in(GemmAssign.codebookOperand(codebook, k, d, weighted), 0, (long) k * m);
                long ds = fixed.alloc((long) kt * nt * Float.BYTES);
                long db = fixed.alloc((long) nt * Float.BYTES);
                long di = fixed.alloc((long) nt * Integer.BYTES);
                for (int from = 0; from < n; from += nt) {
                    int rows = Math.min(nt, n - from);
                    try (Buffers buf = new Buffers()) {
                        long dx = buf.in(GemmAssign.vectorOperand(vectors, weights, from, rows, d), 0, (long) rows * m);
                        for (int c0 = 0; c0 < k; c0 += kt) {
                            int cols = Math.min(kt, k - c0);
                            int status = device.cublas.sgemmRowMajor(false, true, cols, rows, m, 1f,
                                    dc + (long) c0 * m * Float.BYTES, m, dx, m, 0f, ds, rows);
                            if (status != 0) {
                                throw new IllegalStateException(name() + ": assignNearestGemm's gemm failed: cuBLAS"
                                        + " status " + status);
                            }
                            launch(ASSIGN_GEMM_KERNEL, rows, 64, new Ptr(ds), cols, rows, c0, new Ptr(db), new Ptr(di));
                        }
                        buf.out(db, best, 0, rows);
                        buf.out(di, at, 0, rows);
                    }
                    GemmAssign.finish(vectors, weights, from, rows, d, codebook, best, at, index, distance);
                }
            } catch (Cuda.CudaException e) {
                throw failure("assignNearestGemm n=" + n + " d=" + d + " k=" + k, e);
            }
        }
    }

    /** assign_gemm.cl's argmin over a tile of scores. */
    static final String ASSIGN_GEMM_KERNEL = "assign_gemm_argmin";

    @Override
    public void accumulateCentroids(float[] vectors, float[] weights, int n, int d, int[] index, int k, double[] sums,
                                    double[] weightSums) {
        GpuArguments.accumulateCentroids(vectors, n, d, index, k, sums, weightSums);
        long kd = (long) k * d;
        Arrays.fill(sums, 0, (int) kd, 0.0);
        Arrays.fill(weightSums, 0, (int) kd, 0.0);
        if (n == 0) {
            return;
        }
        synchronized (device) {
            device.enter();
            int group = device.tuning.accumulateGroup();
            Partials parts = partials(n, d, k, weights != null);
            try (Buffers fixed = new Buffers()) {
                long ps = fixed.zeros(parts.count() * kd * Double.BYTES);
                long pw = fixed.zeros(parts.count() * kd * Double.BYTES);
                for (Tile t : parts.tiles()) {
                    int from = t.from();
                    int m = t.count();
                    try (Buffers buf = new Buffers()) {
                        long dx = buf.in(vectors, from * d, (long) m * d);
                        long dw = weights == null ? dx : buf.in(weights, from * d, (long) m * d);
                        long di = buf.in(index, from, m);
                        launch("accumulate_partials", (long) parts.in(t) * group, group, new Ptr(dx), new Ptr(dw),
                                weights == null ? 0 : 1, m, d, new Ptr(di), k, parts.vectors(), parts.first(t),
                                new Ptr(ps), new Ptr(pw));
                    }
                }
                long ds = fixed.alloc(kd * Double.BYTES);
                long dws = fixed.alloc(kd * Double.BYTES);
                launch("reduce_partials", kd, 64, new Ptr(ps), new Ptr(pw), parts.count(), (int) kd, new Ptr(ds),
                        new Ptr(dws));
                fixed.out(ds, sums, kd);
                fixed.out(dws, weightSums, kd);
            } catch (Cuda.CudaException e) {
                throw failure(accumulateCall(n, d, k), e);
            }
        }
    }

    /** Packed weights in five device buffers, freed by close(). */
    final class CuPacked extends DeviceWeights {
        final long seg;
        final long stages;
        final long bytes;
        final long floats;
        final long ints;

        CuPacked(PackedMatrix m) {
            super(CudaBackend.this, m);
            List<Long> made = new ArrayList<>();
            try (Arena a = Arena.ofConfined()) {
                seg = upload(made, a, m.segmentTable());
                stages = upload(made, a, m.stageTable());
                MemorySegment b = a.allocate(Math.max(1, m.bytes().length));
                MemorySegment.copy(m.bytes(), 0, b, ValueLayout.JAVA_BYTE, 0, m.bytes().length);
                bytes = keep(made, malloc(b.byteSize()));
                toDevice(bytes, b);
                MemorySegment f = a.allocate(JAVA_FLOAT, Math.max(1, m.floats().length));
                MemorySegment.copy(m.floats(), 0, f, JAVA_FLOAT, 0, m.floats().length);
                floats = keep(made, malloc(f.byteSize()));
                toDevice(floats, f);
                ints = upload(made, a, m.ints());
            } catch (Cuda.CudaException e) {
                made.forEach(CudaBackend.this::free);
                throw failure(uploadCall(m), e);
            }
        }

        private static long keep(List<Long> made, long p) {
            made.add(p);
            return p;
        }

        private long upload(List<Long> made, Arena a, int[] v) {
            MemorySegment s = a.allocate(JAVA_INT, Math.max(1, v.length));
            MemorySegment.copy(v, 0, s, JAVA_INT, 0, v.length);
            long p = keep(made, malloc(s.byteSize()));
            toDevice(p, s);
            return p;
        }

        /** The eleven arguments every packed kernel starts with, then {@code more}. */
        Object[] args(Object... more) {
            PackedMatrix m = matrix();
            Object[] a = {new Ptr(seg), m.segmentCount(), new Ptr(stages), new Ptr(bytes), new Ptr(floats),
                    new Ptr(ints), m.rows(), m.cols(), m.permOffset(), m.normScaleOffset(), m.normBiasOffset()};
            Object[] all = Arrays.copyOf(a, a.length + more.length);
            System.arraycopy(more, 0, all, a.length, more.length);
            return all;
        }

        @Override
        protected void free() {
            device.enter();
            for (long p : new long[]{seg, stages, bytes, floats, ints}) {
                CudaBackend.this.free(p);
            }
        }
    }

    @Override
    protected CuPacked uploadPacked(PackedMatrix matrix) {
        device.enter();
        return new CuPacked(matrix);
    }

    @Override
    public void dequant(PackedWeights weights, float[] out) {
        CuPacked p = own(weights);
        long count = GpuArguments.dequant(p.matrix(), out);
        synchronized (device) {
            device.enter();
            try (Buffers buf = new Buffers()) {
                long dout = buf.alloc(count * Float.BYTES);
                launch("packed_dequant", count, device.tuning.packedGroup(), p.args(new Ptr(dout)));
                buf.out(dout, out, 0, count);
            } catch (Cuda.CudaException e) {
                throw failure(dequantCall(p.matrix()), e);
            }
        }
    }

    @Override
    public void dequantMatmul(PackedWeights weights, float[] x, int n, float[] y) {
        CuPacked p = own(weights);
        int rows = p.matrix().rows();
        int cols = p.matrix().cols();
        GpuArguments.dequantMatmul(p.matrix(), x, n, y);
        if (n == 0) {
            return;
        }
        synchronized (device) {
            device.enter();
            Tiles tiles = matmulTiles(n, rows, cols);
            // the batched kernel (PackedReference's bits) unless the call is one matrix-vector product
            boolean matvec = n == 1;
            int group = KernelSource.MATMUL_GROUP;
            int rowsPer = KernelSource.matmulRows(KernelSource.CUDA_LANES);
            try {
                for (Tile t : tiles) {
                    int from = t.from();
                    int m = t.count();
                    try (Buffers buf = new Buffers()) {
                        long dx = buf.in(x, from * cols, (long) m * cols);
                        long count = (long) m * rows;
                        long dy = buf.alloc(count * Float.BYTES);
                        long groups = matvec ? rows
                                : (long) ((rows + rowsPer - 1) / rowsPer)
                                * ((m + KernelSource.MATMUL_TOKENS - 1) / KernelSource.MATMUL_TOKENS);
                        launch(matvec ? "packed_matvec" : "packed_matmul", groups * group, group,
                                p.args(new Ptr(dx), m, new Ptr(dy)));
                        buf.out(dy, y, from * rows, count);
                    }
                }
            } catch (Cuda.CudaException e) {
                throw failure(matmulCall(rows, cols, n), e);
            }
        }
    }

    // ---- the in-block step of the error feedback (issue 16): feedback.cl (CudaFeedback). Without
    // cuBLAS resident matrices are host arrays, and the CPU's code runs on them. ----------------

    @Override
    public void gptqBlock(ResidentMatrix w, int i1, int i2, double[] ub, int bits, int groupSize, boolean symmetric,
                          int[] codes, float[] scales, int[] zeros, ResidentMatrix err) {
        if (device.cublas == null) {
            hostGptqBlock(w, i1, i2, ub, bits, groupSize, symmetric, codes, scales, zeros, err);
            return;
        }
        CudaFeedback.gptqBlock(this, w, i1, i2, ub, bits, groupSize, symmetric, codes, scales, zeros, err);
    }

    @Override
    public void gptvqBlock(ResidentMatrix w, int i1, int i2, double[] ub, double[] dw, int d, float[] books, int k,
                           int gRows, float[] scales, int[] indices, ResidentMatrix err) {
        if (device.cublas == null) {
            hostGptvqBlock(w, i1, i2, ub, dw, d, books, k, gRows, scales, indices, err);
            return;
        }
        CudaFeedback.gptvqBlock(this, w, i1, i2, ub, dw, d, books, k, gRows, scales, indices, err);
    }

    /** A temporary device copy of s (at least one byte), counted until {@link #freeTempCopy} (call inside {@link #call}). */
    long tempCopy(MemorySegment s) {
        long p = malloc(Math.max(1, s.byteSize()));
        allocated(Math.max(1, s.byteSize()));
        if (s.byteSize() > 0) {
            toDevice(p, s);
        }
        return p;
    }

    /** Frees a {@link #tempCopy} of s (0: none made). */
    void freeTempCopy(long p, MemorySegment s) {
        if (p != 0) {
            free(p);
            allocated(-Math.max(1, s.byteSize()));
        }
    }

    /** s.byteSize() bytes from device address p into s. */
    void copyOut(long p, MemorySegment s) {
        toHost(s, p);
    }

    // ---- resident matrices (issue 16): one device allocation each; regions by cublasSet/GetMatrix,
    // gemm by cuBLAS on pointers and leading dimensions, in place. Without cuBLAS (whose gemm then
    // runs on the CPU anyway) they are host arrays (the SPI's defaults). ----------------------

    /** A resident matrix in one device allocation. */
    final class CuMatrix extends DeviceMatrix {
        final long ptr;

        CuMatrix(long ptr, int rows, int cols) {
            super(CudaBackend.this, rows, cols);
            this.ptr = ptr;
        }

        /** The device address of element (row, col). */
        long at(int row, int col) {
            return ptr + ((long) row * cols() + col) * Float.BYTES;
        }

        @Override
        protected void free() {
            CudaBackend.this.free(ptr);
        }
    }

    @Override
    public ResidentMatrix resident(float[] values, int rows, int cols) {
        if (device.cublas == null) {
            return hostResident(values, rows, cols);
        }
        if (rows < 0 || cols < 0 || values.length < (long) rows * cols) {
            throw new IllegalArgumentException("resident: " + values.length + " floats for " + rows + "x" + cols);
        }
        synchronized (device) {
            device.enter();
            long p = 0;
            try (Arena a = Arena.ofConfined()) {
                long count = (long) rows * cols;
                p = malloc(Math.max(1, count * Float.BYTES));
                if (count > 0) {
                    MemorySegment s = a.allocate(JAVA_FLOAT, count);
                    MemorySegment.copy(values, 0, s, JAVA_FLOAT, 0, (int) count);
                    toDevice(p, s);
                }
                return track(new CuMatrix(p, rows, cols));
            } catch (Cuda.CudaException e) {
                if (p != 0) {
                    free(p);
                }
                throw failure(residentCall("upload", rows, cols), e);
            }
        }
    }

    @Override
    public void read(ResidentMatrix m, int row, int col, int rows, int cols, float[] dst, int offset, int ld) {
        if (device.cublas == null) {
            hostRead(m, row, col, rows, cols, dst, offset, ld);
            return;
        }
        synchronized (device) {
            device.enter();
            CuMatrix c = own(m, CuMatrix.class);
            c.checkRegion("read", row, col, rows, cols);
            HostMatrix.checkHost("read", dst, offset, ld, rows, cols);
            region(false, c, row, col, rows, cols, dst, offset, ld);
        }
    }

    @Override
    public void write(ResidentMatrix m, int row, int col, int rows, int cols, float[] src, int offset, int ld) {
        if (device.cublas == null) {
            hostWrite(m, row, col, rows, cols, src, offset, ld);
            return;
        }
        synchronized (device) {
            device.enter();
            CuMatrix c = own(m, CuMatrix.class);
            c.checkRegion("write", row, col, rows, cols);
            HostMatrix.checkHost("write", src, offset, ld, rows, cols);
            region(true, c, row, col, rows, cols, src, offset, ld);
        }
    }

    /** A copy between the region (row, col, rows × cols) of c and host (offset, row stride ld), through a staging segment. */
    private void region(boolean toDevice, CuMatrix c, int row, int col, int rows, int cols, float[] host, int offset,
                        int ld) {
        if (rows == 0 || cols == 0) {
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(JAVA_FLOAT, (long) rows * cols);
            if (toDevice) {
                for (int r = 0; r < rows; r++) {
                    MemorySegment.copy(host, offset + r * ld, s, JAVA_FLOAT, (long) r * cols * Float.BYTES, cols);
                }
            }
            int status = device.cublas.copyRegion(toDevice, rows, cols, s, c.at(row, col), c.cols());
            if (status != 0) {
                throw failed(residentCall(toDevice ? "write" : "read", rows, cols), "cuBLAS status " + status);
            }
            if (!toDevice) {
                for (int r = 0; r < rows; r++) {
                    MemorySegment.copy(s, JAVA_FLOAT, (long) r * cols * Float.BYTES, host, offset + r * ld, cols);
                }
            }
        }
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, ResidentMatrix a, int aRow,
                     int aCol, ResidentMatrix b, int bRow, int bCol, float beta, ResidentMatrix c, int cRow, int cCol) {
        if (device.cublas == null) {
            hostGemm(transA, transB, m, n, k, alpha, a, aRow, aCol, b, bRow, bCol, beta, c, cRow, cCol);
            return;
        }
        synchronized (device) {
            device.enter();
            CuMatrix da = own(a, CuMatrix.class), db = own(b, CuMatrix.class), dc = own(c, CuMatrix.class);
            da.checkRegion("gemm A", aRow, aCol, transA ? k : m, transA ? m : k);
            db.checkRegion("gemm B", bRow, bCol, transB ? n : k, transB ? k : n);
            dc.checkRegion("gemm C", cRow, cCol, m, n);
            if (m == 0 || n == 0) {
                return;
            }
            try {
                if (k == 0 || beta == 0f) { // C's old contents (NaN included) ignored when beta = 0; k = 0 on the host
                    float[] cv = new float[m * n];
                    if (beta != 0f) {
                        region(false, dc, cRow, cCol, m, n, cv, 0, n);
                    }
                    if (k == 0) {
                        for (int i = 0; i < cv.length; i++) {
                            cv[i] = beta == 0f ? alpha * 0f : alpha * 0f + beta * cv[i];
                        }
                    }
                    region(true, dc, cRow, cCol, m, n, cv, 0, n);
                    if (k == 0) {
                        return;
                    }
                }
                int status = device.cublas.sgemmRowMajor(transA, transB, m, n, k, alpha, da.at(aRow, aCol), da.cols(),
                        db.at(bRow, bCol), db.cols(), beta == 0f ? 0f : beta, dc.at(cRow, cCol), dc.cols());
                if (status != 0) {
                    throw new IllegalStateException(name() + ": gemm on resident matrices failed: cuBLAS status " + status
                            + (status == 3 ? " (CUBLAS_STATUS_ALLOC_FAILED: out of device memory)" : ""));
                }
            } catch (Cuda.CudaException e) {
                throw failure(gemmCall(m, n, k), e);
            }
        }
    }

    // ---- the decoder forward on resident activations (issue 17): CudaForwardOps, and what it needs here.
    // Without cuBLAS resident matrices are host arrays, and the host reference runs the forward.

    @Override
    public boolean hostCpu() {
        return false;
    }

    @Override
    public ForwardOps forwardOps() {
        return device.cublas == null ? null : new CudaForwardOps(this);
    }

    /** The device address of row {@code row} of a resident matrix of this backend. */
    long rowPointer(ResidentMatrix m, int row) {
        return own(m, CuMatrix.class).at(row, 0);
    }

    CuPacked cuPacked(PackedWeights w) {
        return own(w);
    }

    /** Runs body under the device's lock with its context current; a CUDA failure becomes one line naming {@code what}. */
    void call(String what, Runnable body) {
        synchronized (device) {
            device.enter();
            try {
                body.run();
            } catch (Cuda.CudaException e) {
                throw failure(what, e);
            }
        }
    }

    /** {@link #launch} where a Long argument is a device pointer (call inside {@link #call}). */
    void launchKernel(String name, long threads, int block, Object... args) {
        Object[] a = args.clone();
        for (int i = 0; i < a.length; i++) {
            if (a[i] instanceof Long p) {
                a[i] = new Ptr(p);
            }
        }
        launch(name, threads, block, a);
    }

    /** The packed kernel's arguments with device pointers x and y (call inside {@link #call}). */
    void launchPacked(CuPacked p, String name, long threads, int block, long x, int n, long y) {
        launch(name, threads, block, p.args(new Ptr(x), n, new Ptr(y)));
    }

    /** A rows × cols resident matrix of zeros. */
    ResidentMatrix zeros(int rows, int cols) {
        synchronized (device) {
            device.enter();
            long p = 0;
            try {
                long bytes = Math.max(1, (long) rows * cols * Float.BYTES);
                p = malloc(bytes);
                zero(p, bytes);
                return track(new CuMatrix(p, rows, cols));
            } catch (Cuda.CudaException e) {
                if (p != 0) {
                    free(p);
                }
                throw failure(residentCall("zeros", rows, cols), e);
            }
        }
    }

    /** A temporary device copy of a[offset, offset + n) (at least one int), counted until {@link #freeTemp}. */
    long tempInts(int[] a, int offset, int n) {
        long p = malloc((long) Math.max(1, n) * Integer.BYTES);
        allocated((long) Math.max(1, n) * Integer.BYTES);
        if (n > 0) {
            try (Arena ar = Arena.ofConfined()) {
                MemorySegment s = ar.allocate(JAVA_INT, n);
                MemorySegment.copy(a, offset, s, JAVA_INT, 0, n);
                toDevice(p, s);
            }
        }
        return p;
    }

    /** A temporary device buffer of n floats (at least one), counted until {@link #freeTemp}. */
    long tempFloats(int n) {
        long p = malloc((long) Math.max(1, n) * Float.BYTES);
        allocated((long) Math.max(1, n) * Float.BYTES);
        return p;
    }

    void freeTemp(long p, int n) {
        free(p);
        allocated(-(long) Math.max(1, n) * Float.BYTES);
    }

    /** n floats from device address p into dst. */
    void copyOut(long p, float[] dst, int n) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment s = ar.allocate(JAVA_FLOAT, Math.max(1, n));
            toHost(s.asSlice(0, (long) n * Float.BYTES), p);
            MemorySegment.copy(s, JAVA_FLOAT, 0, dst, 0, n);
        }
    }

    // ---- the Hessian and its factor (issue 16): linalg.cl in the CPU's order, or cuSOLVER (CudaLinalg) --

    @Override
    public void accumulateGram(float[] x, int rows, int dim, double[] h) {
        synchronized (device) {
            device.enter();
            linalg.accumulateGram(x, rows, dim, h);
        }
    }

    /** The sums in device memory (CudaLinalg), or the host's where dim² doubles would not fit the budget. */
    @Override
    public GramSums gramSums(int dim) {
        GramSums g = linalg.gramSums(dim, this);
        return g != null ? g : GramSums.onHost(this, dim);
    }

    @Override
    public boolean inverseCholeskyUpper(double[] a, int n) {
        synchronized (device) {
            device.enter();
            return linalg.inverseCholeskyUpper(a, n);
        }
    }
}
