package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.Tuning;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.device.DeviceBudget;
import io.vq4j.kernels.device.DeviceMemoryCount;
import io.vq4j.kernels.device.GpuArguments;
import io.vq4j.kernels.packed.PackedMatrix;
import org.jocl.CL;
import org.jocl.CLException;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.blast.CLBlast;
import org.jocl.blast.CLBlastLayout;
import org.jocl.blast.CLBlastStatusCode;
import org.jocl.blast.CLBlastTranspose;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The compute SPI on an OpenCL device: GEMM by CLBlast, the VQ kernels of vq.cl. Host arrays
 * are copied to the device for each call and the results read back. Its assignment computes
 * the same bits as the CPU backend (same operation order, no contraction); its M-step uses the
 * CPU backend's partials of 4,096 vectors while they fit (then bigger partials, still in a fixed
 * order), so it too matches the CPU bit for bit on all but the largest inputs.
 */
public final class OpenClBackend implements Backend {
    /** Vectors per M-step partial, as the CPU backend. */
    static final int PARTIAL = 4096;
    /** Bytes the M-step partials may take on the device. */
    static final long PARTIAL_BYTES = 256L << 20;

    private final OpenCl.Device device;
    /** Packed weights uploaded by this backend and not yet closed; {@link #close()} releases them. */
    private final Set<ClPacked> live = Collections.newSetFromMap(new IdentityHashMap<>());
    /** Bytes of device buffers this backend holds now, and the most since the last reset (guarded by device). */
    private final DeviceMemoryCount memory = new DeviceMemoryCount();
    private DeviceBudget budget;

    public OpenClBackend(int index) {
        this.device = OpenCl.open(index);
        this.budget = new DeviceBudget(Math.max(1, device.info.globalMemory() / 2),
                Math.max(1, device.info.maxAlloc()));
    }

    /**
     * Caps the device bytes one call may hold (default: half the device's memory); bigger
     * inputs are processed in tiles, with the same results.
     */
    public void limitCallBytes(long bytes) {
        synchronized (device) {
            budget = new DeviceBudget(bytes, Math.min(bytes, Math.max(1, device.info.maxAlloc())));
        }
    }

    /** The work-group and tile sizes in use (from tornado-config/profiles). */
    public Tuning tuning() {
        return device.tuning;
    }

    public OpenCl.DeviceInfo info() {
        return device.info;
    }

    @Override
    public String name() {
        return "opencl:" + device.info.index() + " " + device.info.name();
    }

    private RuntimeException failure(String op, CLException e) {
        String what = switch (e.getStatus()) {
            case CL.CL_MEM_OBJECT_ALLOCATION_FAILURE, CL.CL_OUT_OF_RESOURCES, CL.CL_OUT_OF_HOST_MEMORY,
                 CL.CL_INVALID_BUFFER_SIZE -> "out of device memory";
            default -> CL.stringFor_errorCode(e.getStatus());
        };
        return new IllegalStateException(name() + ": " + op + " failed: " + what);
    }

    private final class Buffers implements AutoCloseable {
        final List<cl_mem> mems = new ArrayList<>();
        long bytes;

        cl_mem in(float[] a, long count) {
            return in(a, 0, count);
        }

        /** a[from, from + count) on the device. */
        cl_mem in(float[] a, long from, long count) {
            if (count == 0) {
                return out(Sizeof.cl_float);
            }
            return add(CL.clCreateBuffer(device.context, CL.CL_MEM_READ_ONLY | CL.CL_MEM_COPY_HOST_PTR,
                    count * Sizeof.cl_float, Pointer.to(a).withByteOffset(from * Sizeof.cl_float), null),
                    count * Sizeof.cl_float);
        }

        cl_mem in(int[] a, long count) {
            return in(a, 0, count);
        }

        cl_mem in(int[] a, long from, long count) {
            if (count == 0) {
                return out(Sizeof.cl_int);
            }
            return add(CL.clCreateBuffer(device.context, CL.CL_MEM_READ_ONLY | CL.CL_MEM_COPY_HOST_PTR,
                    count * Sizeof.cl_int, Pointer.to(a).withByteOffset(from * Sizeof.cl_int), null),
                    count * Sizeof.cl_int);
        }

        cl_mem out(long bytes) {
            return add(CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE, Math.max(1, bytes), null, null),
                    Math.max(1, bytes));
        }

        cl_mem zeros(long bytes) {
            cl_mem m = out(bytes);
            CL.clEnqueueFillBuffer(device.queue, m, Pointer.to(new byte[]{0}), 1, 0, Math.max(1, bytes), 0, null, null);
            return m;
        }

        private cl_mem add(cl_mem m, long size) {
            mems.add(m);
            bytes += size;
            allocated(size);
            return m;
        }

        @Override
        public void close() {
            for (cl_mem m : mems) {
                CL.clReleaseMemObject(m);
            }
            allocated(-bytes);
        }
    }

    /** Releases the device memory of every packed upload still open. The device itself stays shared. */
    @Override
    public void close() {
        synchronized (device) {
            for (ClPacked p : List.copyOf(live)) {
                p.close();
            }
        }
    }

    private void allocated(long delta) {
        memory.add(delta);
    }

    @Override
    public long peakDeviceBytes() {
        return memory.peak();
    }

    @Override
    public void resetPeakDeviceBytes() {
        memory.resetPeak();
    }

    /** Device bytes held by open packed uploads. */
    public long packedBytes() {
        synchronized (device) {
            return live.stream().mapToLong(ClPacked::deviceBytes).sum();
        }
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, float[] b,
                     float beta, float[] c) {
        if (a.length < (long) m * k || b.length < (long) k * n || c.length < (long) m * n) {
            throw new IllegalArgumentException("gemm sizes: array too small");
        }
        if (m == 0 || n == 0) {
            return;
        }
        synchronized (device) {
            try (Buffers buf = new Buffers()) {
                cl_mem da = buf.in(a, (long) m * k);
                cl_mem db = buf.in(b, (long) k * n);
                cl_mem dc;
                if (beta == 0f) {
                    dc = buf.zeros((long) m * n * Sizeof.cl_float); // C's old contents (NaN included) ignored
                } else {
                    dc = buf.out((long) m * n * Sizeof.cl_float);
                    CL.clEnqueueWriteBuffer(device.queue, dc, true, 0, (long) m * n * Sizeof.cl_float, Pointer.to(c),
                            0, null, null);
                }
                if (k == 0) {
                    // C = beta C: CLBlast may refuse k = 0, so scale on the host
                    for (int i = 0; i < m * n; i++) {
                        c[i] = beta == 0f ? 0f : beta * c[i];
                    }
                    return;
                }
                int status = CLBlast.CLBlastSgemm(CLBlastLayout.CLBlastLayoutRowMajor,
                        transA ? CLBlastTranspose.CLBlastTransposeYes : CLBlastTranspose.CLBlastTransposeNo,
                        transB ? CLBlastTranspose.CLBlastTransposeYes : CLBlastTranspose.CLBlastTransposeNo,
                        m, n, k, alpha, da, 0, transA ? m : k, db, 0, transB ? k : n, beta == 0f ? 0f : beta, dc, 0, n,
                        device.queue, null);
                if (status != CLBlastStatusCode.CLBlastSuccess) {
                    throw new IllegalStateException(name() + ": gemm failed: CLBlast status "
                            + CLBlastStatusCode.stringFor(status));
                }
                CL.clEnqueueReadBuffer(device.queue, dc, true, 0, (long) m * n * Sizeof.cl_float, Pointer.to(c), 0,
                        null, null);
            } catch (CLException e) {
                throw failure("gemm " + m + "x" + n + "x" + k, e);
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
            int group = device.tuning.assignGroup();
            long perVector = (long) d * Sizeof.cl_float * (weights == null ? 1 : 2) + Sizeof.cl_int + Sizeof.cl_float;
            long tile = budget.itemsPerTile(n, (long) k * d * Sizeof.cl_float, perVector, (long) d * Sizeof.cl_float,
                    group, name() + ": assignNearest n=" + n + " d=" + d + " k=" + k);
            try (Buffers fixed = new Buffers()) {
                cl_mem dcb = fixed.in(codebook, 0, (long) k * d);
                for (int from = 0; from < n; from += (int) tile) {
                    int m = (int) Math.min(tile, n - from);
                    try (Buffers buf = new Buffers()) {
                        cl_mem dx = buf.in(vectors, (long) from * d, (long) m * d);
                        cl_mem dw = weights == null ? dx : buf.in(weights, (long) from * d, (long) m * d);
                        cl_mem di = buf.out((long) m * Sizeof.cl_int);
                        cl_mem dd = buf.out((long) m * Sizeof.cl_float);
                        cl_kernel kn = device.kernel("assign_nearest");
                        int a = 0;
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(dx));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(dw));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{weights == null ? 0 : 1}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{m}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{d}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(dcb));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{k}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(di));
                        CL.clSetKernelArg(kn, a, Sizeof.cl_mem, Pointer.to(dd));
                        long global = (m + group - 1L) / group * group;
                        CL.clEnqueueNDRangeKernel(device.queue, kn, 1, null, new long[]{global}, new long[]{group}, 0,
                                null, null);
                        CL.clEnqueueReadBuffer(device.queue, di, true, 0, (long) m * Sizeof.cl_int,
                                Pointer.to(index).withByteOffset((long) from * Sizeof.cl_int), 0, null, null);
                        CL.clEnqueueReadBuffer(device.queue, dd, true, 0, (long) m * Sizeof.cl_float,
                                Pointer.to(distance).withByteOffset((long) from * Sizeof.cl_float), 0, null, null);
                    }
                }
            } catch (CLException e) {
                throw failure("assignNearest n=" + n + " d=" + d + " k=" + k, e);
            }
        }
    }

    @Override
    public void accumulateCentroids(float[] vectors, float[] weights, int n, int d, int[] index, int k, double[] sums,
                                    double[] weightSums) {
        GpuArguments.accumulateCentroids(vectors, n, d, index, k, sums, weightSums);
        long kd = (long) k * d;
        if (!device.info.fp64()) {
            new CpuBackend().accumulateCentroids(vectors, weights, n, d, index, k, sums,
                    weightSums); // no fp64 on the device: the host sums in double
            return;
        }
        Arrays.fill(sums, 0, (int) kd, 0.0);
        Arrays.fill(weightSums, 0, (int) kd, 0.0);
        if (n == 0) {
            return;
        }
        // partials of PARTIAL vectors, as on the CPU, unless their arrays would not fit PARTIAL_BYTES
        long maxParts = Math.max(1, PARTIAL_BYTES / (2 * kd * Sizeof.cl_double));
        int chunk = PARTIAL;
        if ((n + chunk - 1L) / chunk > maxParts) {
            chunk = (int) ((n + maxParts - 1) / maxParts);
        }
        int parts = (n + chunk - 1) / chunk;
        synchronized (device) {
            int group = device.tuning.accumulateGroup();
            long perVector = (long) d * Sizeof.cl_float * (weights == null ? 1 : 2) + Sizeof.cl_int;
            long fixedBytes = 2 * (parts + 1L) * kd * Sizeof.cl_double;
            // tiles of whole partials, so the sums are those of one call
            long tile = budget.itemsPerTile(n, fixedBytes, perVector, (long) d * Sizeof.cl_float, chunk,
                    name() + ": accumulateCentroids n=" + n + " d=" + d + " k=" + k);
            if (tile < n && tile % chunk != 0) {
                throw new IllegalStateException(name() + ": accumulateCentroids n=" + n + " d=" + d + " k=" + k
                        + " does not fit the device: not even one partial of " + chunk + " vectors fits");
            }
            try (Buffers fixed = new Buffers()) {
                cl_mem ps = fixed.zeros(parts * kd * Sizeof.cl_double);
                cl_mem pw = fixed.zeros(parts * kd * Sizeof.cl_double);
                for (int from = 0; from < n; from += (int) tile) {
                    int m = (int) Math.min(tile, n - from);
                    try (Buffers buf = new Buffers()) {
                        cl_mem dx = buf.in(vectors, (long) from * d, (long) m * d);
                        cl_mem dw = weights == null ? dx : buf.in(weights, (long) from * d, (long) m * d);
                        cl_mem di = buf.in(index, from, m);
                        int tileParts = (m + chunk - 1) / chunk;
                        cl_kernel kn = device.kernel("accumulate_partials");
                        int a = 0;
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(dx));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(dw));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{weights == null ? 0 : 1}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{m}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{d}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(di));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{k}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{chunk}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{from / chunk}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(ps));
                        CL.clSetKernelArg(kn, a, Sizeof.cl_mem, Pointer.to(pw));
                        CL.clEnqueueNDRangeKernel(device.queue, kn, 1, null, new long[]{(long) tileParts * group},
                                new long[]{group}, 0, null, null);
                        CL.clFinish(device.queue);
                    }
                }
                cl_mem ds = fixed.out(kd * Sizeof.cl_double);
                cl_mem dws = fixed.out(kd * Sizeof.cl_double);
                cl_kernel rn = device.kernel("reduce_partials");
                int a = 0;
                CL.clSetKernelArg(rn, a++, Sizeof.cl_mem, Pointer.to(ps));
                CL.clSetKernelArg(rn, a++, Sizeof.cl_mem, Pointer.to(pw));
                CL.clSetKernelArg(rn, a++, Sizeof.cl_int, Pointer.to(new int[]{parts}));
                CL.clSetKernelArg(rn, a++, Sizeof.cl_int, Pointer.to(new int[]{(int) kd}));
                CL.clSetKernelArg(rn, a++, Sizeof.cl_mem, Pointer.to(ds));
                CL.clSetKernelArg(rn, a, Sizeof.cl_mem, Pointer.to(dws));
                long global = (kd + 63) / 64 * 64;
                CL.clEnqueueNDRangeKernel(device.queue, rn, 1, null, new long[]{global}, new long[]{64}, 0, null, null);
                CL.clEnqueueReadBuffer(device.queue, ds, true, 0, kd * Sizeof.cl_double, Pointer.to(sums), 0, null,
                        null);
                CL.clEnqueueReadBuffer(device.queue, dws, true, 0, kd * Sizeof.cl_double, Pointer.to(weightSums), 0,
                        null, null);
            } catch (CLException e) {
                throw failure("accumulateCentroids n=" + n + " d=" + d + " k=" + k, e);
            }
        }
    }

    /** Packed weights in five device buffers, released by close(). */
    private final class ClPacked implements PackedWeights {
        final PackedMatrix matrix;
        final cl_mem seg;
        final cl_mem stages;
        final cl_mem bytes;
        final cl_mem floats;
        final cl_mem ints;
        final long deviceBytes;
        private boolean closed;

        ClPacked(PackedMatrix m) {
            this.matrix = m;
            List<cl_mem> made = new ArrayList<>();
            try {
                seg = keep(made, ints(m.segmentTable()));
                stages = keep(made, ints(m.stageTable()));
                bytes = keep(made, CL.clCreateBuffer(device.context, CL.CL_MEM_READ_ONLY | CL.CL_MEM_COPY_HOST_PTR,
                        m.bytes().length, Pointer.to(m.bytes()), null));
                floats = keep(made, CL.clCreateBuffer(device.context, CL.CL_MEM_READ_ONLY | CL.CL_MEM_COPY_HOST_PTR,
                        (long) Math.max(1, m.floats().length) * Sizeof.cl_float,
                        Pointer.to(m.floats().length == 0 ? new float[1] : m.floats()), null));
                ints = keep(made, ints(m.ints()));
            } catch (CLException e) {
                made.forEach(CL::clReleaseMemObject);
                throw failure("upload of packed " + m.rows() + "x" + m.cols() + " (" + m.deviceBytes() + " bytes)", e);
            }
            this.deviceBytes = m.deviceBytes();
            allocated(deviceBytes);
        }

        private static cl_mem keep(List<cl_mem> made, cl_mem m) {
            made.add(m);
            return m;
        }

        private cl_mem ints(int[] a) {
            return CL.clCreateBuffer(device.context, CL.CL_MEM_READ_ONLY | CL.CL_MEM_COPY_HOST_PTR,
                    (long) Math.max(1, a.length) * Sizeof.cl_int, Pointer.to(a.length == 0 ? new int[1] : a), null);
        }

        OpenClBackend outer() {
            return OpenClBackend.this;
        }

        @Override
        public PackedMatrix matrix() {
            return matrix;
        }

        @Override
        public long deviceBytes() {
            return deviceBytes;
        }

        /** Sets the eleven arguments every packed kernel starts with. */
        int setArgs(cl_kernel kn) {
            int a = 0;
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(seg));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix.segmentCount()}));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(stages));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(bytes));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(floats));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(ints));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix.rows()}));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix.cols()}));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix.permOffset()}));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix.normScaleOffset()}));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix.normBiasOffset()}));
            return a;
        }

        @Override
        public void close() {
            synchronized (device) {
                if (!closed) {
                    closed = true;
                    live.remove(this);
                    allocated(-deviceBytes);
                    for (cl_mem m : new cl_mem[]{seg, stages, bytes, floats, ints}) {
                        CL.clReleaseMemObject(m);
                    }
                }
            }
        }
    }

    @Override
    public PackedWeights upload(PackedMatrix matrix) {
        synchronized (device) {
            ClPacked p = new ClPacked(Objects.requireNonNull(matrix));
            live.add(p);
            return p;
        }
    }

    private ClPacked own(PackedWeights w) {
        if (!(w instanceof ClPacked p) || p.outer() != this) {
            throw new IllegalArgumentException("packed weights from another backend: " + w);
        }
        if (p.closed) {
            throw new IllegalStateException("packed weights used after close()");
        }
        return p;
    }

    @Override
    public void dequant(PackedWeights weights, float[] out) {
        ClPacked p = own(weights);
        long count = (long) p.matrix.rows() * p.matrix.cols();
        if (out.length < count) {
            throw new IllegalArgumentException("dequant: output of " + out.length + " for " + count + " weights");
        }
        synchronized (device) {
            try (Buffers buf = new Buffers()) {
                cl_mem dout = buf.out(count * Sizeof.cl_float);
                cl_kernel kn = device.kernel("packed_dequant");
                int a = p.setArgs(kn);
                CL.clSetKernelArg(kn, a, Sizeof.cl_mem, Pointer.to(dout));
                long global = (count + device.tuning.packedGroup() - 1) / device.tuning.packedGroup() * device.tuning.packedGroup();
                CL.clEnqueueNDRangeKernel(device.queue, kn, 1, null, new long[]{global}, new long[]{device.tuning.packedGroup()}, 0,
                        null, null);
                CL.clEnqueueReadBuffer(device.queue, dout, true, 0, count * Sizeof.cl_float, Pointer.to(out), 0, null,
                        null);
            } catch (CLException e) {
                throw failure("dequant " + p.matrix.rows() + "x" + p.matrix.cols(), e);
            }
        }
    }

    @Override
    public void dequantMatmul(PackedWeights weights, float[] x, int n, float[] y) {
        ClPacked p = own(weights);
        int rows = p.matrix.rows();
        int cols = p.matrix.cols();
        if (n < 0 || x.length < (long) n * cols || y.length < (long) n * rows) {
            throw new IllegalArgumentException("dequantMatmul: x of " + x.length + " and y of " + y.length
                    + " for n = " + n + " and " + rows + "x" + cols);
        }
        if (n == 0) {
            return;
        }
        synchronized (device) {
            int group = device.tuning.packedGroup();
            long tile = budget.itemsPerTile(n, 0, ((long) cols + rows) * Sizeof.cl_float,
                    (long) Math.max(cols, rows) * Sizeof.cl_float, 1,
                    name() + ": dequantMatmul " + rows + "x" + cols + " n=" + n);
            try {
                for (int from = 0; from < n; from += (int) tile) {
                    int m = (int) Math.min(tile, n - from);
                    try (Buffers buf = new Buffers()) {
                        cl_mem dx = buf.in(x, (long) from * cols, (long) m * cols);
                        long count = (long) m * rows;
                        cl_mem dy = buf.out(count * Sizeof.cl_float);
                        cl_kernel kn = device.kernel("packed_matmul");
                        int a = p.setArgs(kn);
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(dx));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{m}));
                        CL.clSetKernelArg(kn, a, Sizeof.cl_mem, Pointer.to(dy));
                        long global = (count + group - 1) / group * group;
                        CL.clEnqueueNDRangeKernel(device.queue, kn, 1, null, new long[]{global}, new long[]{group}, 0,
                                null, null);
                        CL.clEnqueueReadBuffer(device.queue, dy, true, 0, count * Sizeof.cl_float,
                                Pointer.to(y).withByteOffset((long) from * rows * Sizeof.cl_float), 0, null, null);
                    }
                }
            } catch (CLException e) {
                throw failure("dequantMatmul " + rows + "x" + cols + " n=" + n, e);
            }
        }
    }
}
