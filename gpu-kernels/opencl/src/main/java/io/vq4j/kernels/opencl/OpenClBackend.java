package io.vq4j.kernels.opencl;

import io.vq4j.kernels.AssignMethod;
import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.HostMatrix;
import io.vq4j.kernels.KernelSource;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.GramSums;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.Tuning;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.device.DeviceMatrix;
import io.vq4j.kernels.device.DeviceWeights;
import io.vq4j.kernels.device.GpuArguments;
import io.vq4j.kernels.device.GpuBackend;
import io.vq4j.kernels.device.Partials;
import io.vq4j.kernels.device.Tiles;
import io.vq4j.kernels.device.Tiles.Tile;
import io.vq4j.kernels.feedback.GptqBlock;
import io.vq4j.kernels.feedback.GptvqBlock;
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
import java.util.List;

/**
 * The compute SPI on an OpenCL device: GEMM by sgemm.cl ({@link OpenClGemm}: the CPU backend's
 * bits; CLBlast with -Dvq.opencl.gemm=clblast), the VQ kernels of vq.cl. Host arrays
 * are copied to the device for each call and the results read back. Its assignment computes
 * the same bits as the CPU backend (same operation order, no contraction); its M-step uses the
 * CPU backend's partials of 4,096 vectors while they fit (then bigger partials, still in a fixed
 * order), so it too matches the CPU bit for bit on all but the largest inputs. Tiles, partials
 * and the packed uploads' bookkeeping are {@link GpuBackend}'s; calls run under the device's lock.
 */
public final class OpenClBackend extends GpuBackend<OpenClBackend.ClPacked> {
    private final OpenCl.Device device;
    private final OpenClLinalg linalg;
    private final OpenClFeedback feedback;
    private final OpenClAssignGemm assignGemm;
    private final OpenClGemm gemm;
    /**
     * Whether gemm runs on CLBlast rather than sgemm.cl ({@link OpenClGemm}, the default): system
     * property vq.opencl.gemm=clblast, for comparing the two in a benchmark.
     */
    private static boolean clblastGemm() {
        return "clblast".equals(System.getProperty("vq.opencl.gemm"));
    }

    public OpenClBackend(int index) {
        this(OpenCl.open(index));
    }

    private OpenClBackend(OpenCl.Device device) {
        super(device, device.info.globalMemory(), device.info.maxAlloc());
        this.device = device;
        this.linalg = new OpenClLinalg(device, name(), this::allocated);
        this.feedback = new OpenClFeedback(device, this::allocated);
        this.assignGemm = new OpenClAssignGemm(device, name(), this::allocated);
        this.gemm = new OpenClGemm(device, this::allocated);
    }

    @Override
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
        return failed(op, what);
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

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, float[] b,
                     float beta, float[] c) {
        GpuArguments.gemm(m, n, k, a, b, c);
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
                if (!clblastGemm()) {
                    gemm.run(m, n, k, alpha, da, 0, transA ? 1 : k, transA ? m : 1, db, 0, transB ? 1 : n,
                            transB ? k : 1, beta, dc, 0, n);
                    CL.clEnqueueReadBuffer(device.queue, dc, true, 0, (long) m * n * Sizeof.cl_float, Pointer.to(c),
                            0, null, null);
                    return;
                }
                if (k == 0) {
                    scaleOnly(beta, c, m * n); // CLBlast may refuse k = 0
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
            int group = device.tuning.assignGroup();
            Tiles tiles = assignTiles(n, d, k, weights != null);
            try (Buffers fixed = new Buffers()) {
                cl_mem dcb = fixed.in(codebook, 0, (long) k * d);
                for (Tile t : tiles) {
                    int from = t.from();
                    int m = t.count();
                    try (Buffers buf = new Buffers()) {
                        cl_mem dx = buf.in(vectors, (long) from * d, (long) m * d);
                        cl_mem dw = weights == null ? dx : buf.in(weights, (long) from * d, (long) m * d);
                        cl_mem di = buf.out((long) m * Sizeof.cl_int);
                        cl_mem dd = buf.out((long) m * Sizeof.cl_float);
                        cl_kernel kn = device.kernel("assign_nearest_" + d);
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
                        long perGroup = (long) group * KernelSource.OPENCL_LANES; // VL vectors per work-item
                        long global = (m + perGroup - 1) / perGroup * group;
                        CL.clEnqueueNDRangeKernel(device.queue, kn, 1, null, new long[]{global}, new long[]{group}, 0,
                                null, null);
                        CL.clEnqueueReadBuffer(device.queue, di, true, 0, (long) m * Sizeof.cl_int,
                                Pointer.to(index).withByteOffset((long) from * Sizeof.cl_int), 0, null, null);
                        CL.clEnqueueReadBuffer(device.queue, dd, true, 0, (long) m * Sizeof.cl_float,
                                Pointer.to(distance).withByteOffset((long) from * Sizeof.cl_float), 0, null, null);
                    }
                }
            } catch (CLException e) {
                throw failure(assignCall(n, d, k), e);
            }
        }
    }

    /** The matmul form: CLBlast's SGEMM and assign_gemm.cl's argmin ({@link OpenClAssignGemm}). */
    @Override
    public void assignNearestGemm(float[] vectors, float[] weights, int n, int d, float[] codebook, int k,
                                  int[] index, float[] distance) {
        GpuArguments.assignNearest(vectors, weights, n, d, codebook, k, index, distance);
        if (n == 0) {
            return;
        }
        synchronized (device) {
            try {
                assignGemm.run(vectors, weights, n, d, codebook, k, index, distance);
            } catch (CLException e) {
                throw failure("assignNearestGemm n=" + n + " d=" + d + " k=" + k, e);
            }
        }
    }

    @Override
    public AssignMethod assignMethod(int n, int d, int k, boolean weighted) {
        return AssignMethod.forShape("opencl", n, d, k, weighted);
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
        synchronized (device) {
            int group = device.tuning.accumulateGroup();
            Partials parts = partials(n, d, k, weights != null);
            int chunk = parts.vectors();
            try (Buffers fixed = new Buffers()) {
                cl_mem ps = fixed.zeros(parts.count() * kd * Sizeof.cl_double);
                cl_mem pw = fixed.zeros(parts.count() * kd * Sizeof.cl_double);
                for (Tile t : parts.tiles()) {
                    int from = t.from();
                    int m = t.count();
                    try (Buffers buf = new Buffers()) {
                        cl_mem dx = buf.in(vectors, (long) from * d, (long) m * d);
                        cl_mem dw = weights == null ? dx : buf.in(weights, (long) from * d, (long) m * d);
                        cl_mem di = buf.in(index, from, m);
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
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{parts.first(t)}));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(ps));
                        CL.clSetKernelArg(kn, a, Sizeof.cl_mem, Pointer.to(pw));
                        CL.clEnqueueNDRangeKernel(device.queue, kn, 1, null, new long[]{(long) parts.in(t) * group},
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
                CL.clSetKernelArg(rn, a++, Sizeof.cl_int, Pointer.to(new int[]{parts.count()}));
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
                throw failure(accumulateCall(n, d, k), e);
            }
        }
    }

    /** Packed weights in five device buffers, released by close(). */
    final class ClPacked extends DeviceWeights {
        final cl_mem seg;
        final cl_mem stages;
        final cl_mem bytes;
        final cl_mem floats;
        final cl_mem ints;

        ClPacked(PackedMatrix m) {
            super(OpenClBackend.this, m);
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
                throw failure(uploadCall(m), e);
            }
        }

        private static cl_mem keep(List<cl_mem> made, cl_mem m) {
            made.add(m);
            return m;
        }

        private cl_mem ints(int[] a) {
            return CL.clCreateBuffer(device.context, CL.CL_MEM_READ_ONLY | CL.CL_MEM_COPY_HOST_PTR,
                    (long) Math.max(1, a.length) * Sizeof.cl_int, Pointer.to(a.length == 0 ? new int[1] : a), null);
        }

        /** Sets the eleven arguments every packed kernel starts with. */
        int setArgs(cl_kernel kn) {
            int a = 0;
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(seg));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix().segmentCount()}));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(stages));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(bytes));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(floats));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(ints));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix().rows()}));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix().cols()}));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix().permOffset()}));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix().normScaleOffset()}));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{matrix().normBiasOffset()}));
            return a;
        }

        @Override
        protected void free() {
            for (cl_mem m : new cl_mem[]{seg, stages, bytes, floats, ints}) {
                CL.clReleaseMemObject(m);
            }
        }
    }

    @Override
    protected ClPacked uploadPacked(PackedMatrix matrix) {
        return new ClPacked(matrix);
    }

    @Override
    public void dequant(PackedWeights weights, float[] out) {
        ClPacked p = own(weights);
        long count = GpuArguments.dequant(p.matrix(), out);
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
                throw failure(dequantCall(p.matrix()), e);
            }
        }
    }

    @Override
    public void dequantMatmul(PackedWeights weights, float[] x, int n, float[] y) {
        ClPacked p = own(weights);
        int rows = p.matrix().rows();
        int cols = p.matrix().cols();
        GpuArguments.dequantMatmul(p.matrix(), x, n, y);
        if (n == 0) {
            return;
        }
        synchronized (device) {
            // the batched kernel (PackedReference's bits) unless the call is one matrix-vector product
            boolean matvec = n == 1;
            int group = KernelSource.MATMUL_GROUP;
            int rowsPer = KernelSource.matmulRows(KernelSource.OPENCL_LANES);
            Tiles tiles = matmulTiles(n, rows, cols);
            try {
                for (Tile t : tiles) {
                    int from = t.from();
                    int m = t.count();
                    try (Buffers buf = new Buffers()) {
                        cl_mem dx = buf.in(x, (long) from * cols, (long) m * cols);
                        long count = (long) m * rows;
                        cl_mem dy = buf.out(count * Sizeof.cl_float);
                        cl_kernel kn = device.kernel(matvec ? "packed_matvec" : "packed_matmul");
                        int a = p.setArgs(kn);
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(dx));
                        CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{m}));
                        CL.clSetKernelArg(kn, a, Sizeof.cl_mem, Pointer.to(dy));
                        long groups = matvec ? rows
                                : (long) ((rows + rowsPer - 1) / rowsPer)
                                * ((m + KernelSource.MATMUL_TOKENS - 1) / KernelSource.MATMUL_TOKENS);
                        CL.clEnqueueNDRangeKernel(device.queue, kn, 1, null, new long[]{groups * group},
                                new long[]{group}, 0, null, null);
                        CL.clEnqueueReadBuffer(device.queue, dy, true, 0, count * Sizeof.cl_float,
                                Pointer.to(y).withByteOffset((long) from * rows * Sizeof.cl_float), 0, null, null);
                    }
                }
            } catch (CLException e) {
                throw failure(matmulCall(rows, cols, n), e);
            }
        }
    }

    // ---- resident matrices (issue 16): one cl_mem each; regions by clEnqueue{Read,Write}BufferRect;
    // gemm by sgemm.cl (or CLBlast) on offsets and leading dimensions, in place ---------------------------

    /** A resident matrix in one device buffer. */
    static final class ClMatrix extends DeviceMatrix {
        final cl_mem mem;

        ClMatrix(OpenClBackend owner, cl_mem mem, int rows, int cols) {
            super(owner, rows, cols);
            this.mem = mem;
        }

        @Override
        protected void free() {
            CL.clReleaseMemObject(mem);
        }
    }

    @Override
    public ResidentMatrix resident(float[] values, int rows, int cols) {
        if (rows < 0 || cols < 0 || values.length < (long) rows * cols) {
            throw new IllegalArgumentException("resident: " + values.length + " floats for " + rows + "x" + cols);
        }
        long bytes = Math.max(1, (long) rows * cols * Sizeof.cl_float);
        synchronized (device) {
            try {
                cl_mem m = (long) rows * cols == 0
                        ? CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE, bytes, null, null)
                        : CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE | CL.CL_MEM_COPY_HOST_PTR, bytes,
                        Pointer.to(values), null);
                return track(new ClMatrix(this, m, rows, cols));
            } catch (CLException e) {
                throw failure(residentCall("upload", rows, cols), e);
            }
        }
    }

    @Override
    public void read(ResidentMatrix m, int row, int col, int rows, int cols, float[] dst, int offset, int ld) {
        synchronized (device) {
            ClMatrix c = own(m, ClMatrix.class);
            c.checkRegion("read", row, col, rows, cols);
            HostMatrix.checkHost("read", dst, offset, ld, rows, cols);
            try {
                rect(false, c, row, col, rows, cols, dst, offset, ld);
            } catch (CLException e) {
                throw failure(residentCall("read", rows, cols), e);
            }
        }
    }

    @Override
    public void write(ResidentMatrix m, int row, int col, int rows, int cols, float[] src, int offset, int ld) {
        synchronized (device) {
            ClMatrix c = own(m, ClMatrix.class);
            c.checkRegion("write", row, col, rows, cols);
            HostMatrix.checkHost("write", src, offset, ld, rows, cols);
            try {
                rect(true, c, row, col, rows, cols, src, offset, ld);
            } catch (CLException e) {
                throw failure(residentCall("write", rows, cols), e);
            }
        }
    }

    /** A blocking copy between the region (row, col, rows × cols) of c and host (offset, row stride ld). */
    private void rect(boolean toDevice, ClMatrix c, int row, int col, int rows, int cols, float[] host, int offset,
                      int ld) {
        if (rows == 0 || cols == 0) {
            return;
        }
        long f = Sizeof.cl_float;
        long[] origin = {col * f, row, 0};
        long[] hostOrigin = {0, 0, 0};
        long[] region = {cols * f, rows, 1};
        Pointer p = Pointer.to(host).withByteOffset(offset * f);
        if (toDevice) {
            CL.clEnqueueWriteBufferRect(device.queue, c.mem, true, origin, hostOrigin, region, c.cols() * f, 0, ld * f,
                    0, p, 0, null, null);
        } else {
            CL.clEnqueueReadBufferRect(device.queue, c.mem, true, origin, hostOrigin, region, c.cols() * f, 0, ld * f,
                    0, p, 0, null, null);
        }
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, ResidentMatrix a, int aRow,
                     int aCol, ResidentMatrix b, int bRow, int bCol, float beta, ResidentMatrix c, int cRow, int cCol) {
        synchronized (device) {
            ClMatrix da = own(a, ClMatrix.class), db = own(b, ClMatrix.class), dc = own(c, ClMatrix.class);
            da.checkRegion("gemm A", aRow, aCol, transA ? k : m, transA ? m : k);
            db.checkRegion("gemm B", bRow, bCol, transB ? n : k, transB ? k : n);
            dc.checkRegion("gemm C", cRow, cCol, m, n);
            if (m == 0 || n == 0) {
                return;
            }
            try {
                if (!clblastGemm()) {
                    long lda = da.cols(), ldb = db.cols();
                    gemm.run(m, n, k, alpha, da.mem, aRow * lda + aCol, transA ? 1 : lda, transA ? lda : 1,
                            db.mem, bRow * ldb + bCol, transB ? 1 : ldb, transB ? ldb : 1, beta,
                            dc.mem, (long) cRow * dc.cols() + cCol, dc.cols());
                    return;
                }
                if (k == 0 || beta == 0f) { // C's old contents (NaN included) ignored when beta = 0; CLBlast may refuse k = 0
                    float[] cv = new float[m * n];
                    if (beta != 0f) {
                        rect(false, dc, cRow, cCol, m, n, cv, 0, n);
                    }
                    if (k == 0) {
                        for (int i = 0; i < cv.length; i++) {
                            cv[i] = beta == 0f ? alpha * 0f : alpha * 0f + beta * cv[i];
                        }
                    }
                    rect(true, dc, cRow, cCol, m, n, cv, 0, n);
                    if (k == 0) {
                        return;
                    }
                }
                int status = CLBlast.CLBlastSgemm(CLBlastLayout.CLBlastLayoutRowMajor,
                        transA ? CLBlastTranspose.CLBlastTransposeYes : CLBlastTranspose.CLBlastTransposeNo,
                        transB ? CLBlastTranspose.CLBlastTransposeYes : CLBlastTranspose.CLBlastTransposeNo,
                        m, n, k, alpha, da.mem, (long) aRow * da.cols() + aCol, da.cols(),
                        db.mem, (long) bRow * db.cols() + bCol, db.cols(),
                        beta == 0f ? 0f : beta, dc.mem, (long) cRow * dc.cols() + cCol, dc.cols(), device.queue, null);
                if (status != CLBlastStatusCode.CLBlastSuccess) {
                    throw new IllegalStateException(name() + ": gemm on resident matrices failed: CLBlast status "
                            + CLBlastStatusCode.stringFor(status));
                }
                CL.clFinish(device.queue);
            } catch (CLException e) {
                throw failure(gemmCall(m, n, k), e);
            }
        }
    }

    // ---- the decoder forward on resident activations (issue 17): ClForwardOps, and what it needs here

    /** The product kernel of this device's Gram and factor ("packed" or "tiled"; OpenClLinalg). */
    String linalgProduct() {
        return linalg.productKernel();
    }

    /** A CPU-type device (PoCL) computes on the host's cores. */
    @Override
    public boolean hostCpu() {
        return device.info.type().contains("CPU");
    }

    @Override
    public ForwardOps forwardOps() {
        return forwardOps(device.info.type().contains("CPU"));
    }

    /** The forward ops with a work-item (true) or a work-group (false) per row of RMSNorm. */
    ForwardOps forwardOps(boolean rowPerItem) {
        return new ClForwardOps(this, device, rowPerItem);
    }

    ClMatrix clMatrix(ResidentMatrix m) {
        return own(m, ClMatrix.class);
    }

    ClPacked clPacked(PackedWeights w) {
        return own(w);
    }

    RuntimeException clFailure(String op, CLException e) {
        return failure(op, e);
    }

    /** A rows × cols resident matrix of zeros, filled on the device. */
    ResidentMatrix zeros(int rows, int cols) {
        long bytes = Math.max(1, (long) rows * cols * Sizeof.cl_float);
        synchronized (device) {
            try {
                cl_mem m = CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE, bytes, null, null);
                CL.clEnqueueFillBuffer(device.queue, m, Pointer.to(new float[]{0f}), Sizeof.cl_float, 0, bytes, 0,
                        null, null);
                return track(new ClMatrix(this, m, rows, cols));
            } catch (CLException e) {
                throw failure(residentCall("zeros", rows, cols), e);
            }
        }
    }

    /** A temporary device copy of a[offset, offset + n) (at least one int), counted until {@link #releaseTemp}. */
    cl_mem tempInts(int[] a, int offset, int n) {
        cl_mem m = CL.clCreateBuffer(device.context, CL.CL_MEM_READ_ONLY | CL.CL_MEM_COPY_HOST_PTR,
                (long) Math.max(1, n) * Sizeof.cl_int, Pointer.to(n == 0 ? new int[1] : a).withByteOffset(n == 0 ? 0
                        : (long) offset * Sizeof.cl_int), null);
        allocated((long) Math.max(1, n) * Sizeof.cl_int);
        return m;
    }

    /** A temporary device buffer of n floats (at least one), counted until {@link #releaseTemp}. */
    cl_mem tempFloats(int n) {
        cl_mem m = CL.clCreateBuffer(device.context, CL.CL_MEM_READ_WRITE, (long) Math.max(1, n) * Sizeof.cl_float,
                null, null);
        allocated((long) Math.max(1, n) * Sizeof.cl_float);
        return m;
    }

    /** Releases a temporary of n ints or floats after the queue has used it. */
    void releaseTemp(cl_mem m, int n) {
        CL.clFinish(device.queue);
        CL.clReleaseMemObject(m);
        allocated(-(long) Math.max(1, n) * Sizeof.cl_int);
    }

    // ---- the Hessian and its factor (issue 16): linalg.cl in the CPU's order (OpenClLinalg) ------

    @Override
    public void accumulateGram(float[] x, int rows, int dim, double[] h) {
        synchronized (device) {
            linalg.accumulateGram(x, rows, dim, h);
        }
    }

    /** The sums in device memory (OpenClLinalg), or the host's where dim² doubles may not be one buffer or there is no fp64. */
    @Override
    public GramSums gramSums(int dim) {
        GramSums g = linalg.gramSums(dim, this);
        return g != null ? g : GramSums.onHost(this, dim);
    }

    @Override
    public boolean inverseCholeskyUpper(double[] a, int n) {
        synchronized (device) {
            return linalg.inverseCholeskyUpper(a, n);
        }
    }

    // ---- the in-block step of the error feedback (issue 16): feedback.cl (OpenClFeedback) ------

    @Override
    public void gptqBlock(ResidentMatrix w, int i1, int i2, double[] ub, int bits, int groupSize, boolean symmetric,
                          int[] codes, float[] scales, int[] zeros, ResidentMatrix err) {
        if (!device.info.fp64()) { // the kernel needs doubles: the CPU's code through read and write
            hostGptqBlock(w, i1, i2, ub, bits, groupSize, symmetric, codes, scales, zeros, err);
            return;
        }
        synchronized (device) {
            ClMatrix dw = own(w, ClMatrix.class), de = own(err, ClMatrix.class);
            GptqBlock.check(w.rows(), w.cols(), err.rows(), err.cols(), i1, i2, ub, bits, groupSize, codes, scales, zeros);
            try {
                feedback.gptqBlock(dw.mem, w.rows(), w.cols(), i1, i2, ub, bits, groupSize, symmetric, codes, scales,
                        zeros, de.mem, de.cols());
            } catch (CLException e) {
                throw failure("gptqBlock " + w.rows() + "x" + (i2 - i1) + " of " + w.cols() + " columns", e);
            }
        }
    }

    @Override
    public void gptvqBlock(ResidentMatrix w, int i1, int i2, double[] ub, double[] dw, int d, float[] books, int k,
                           int gRows, float[] scales, int[] indices, ResidentMatrix err) {
        if (!device.info.fp64()) { // the kernel needs doubles: the CPU's code through read and write
            hostGptvqBlock(w, i1, i2, ub, dw, d, books, k, gRows, scales, indices, err);
            return;
        }
        synchronized (device) {
            ClMatrix dm = own(w, ClMatrix.class), de = own(err, ClMatrix.class);
            GptvqBlock.check(w.rows(), w.cols(), err.rows(), err.cols(), i1, i2, ub, dw, d, books, k, gRows, scales,
                    indices);
            try {
                feedback.gptvqBlock(dm.mem, w.rows(), w.cols(), i1, i2, ub, dw, d, books, k, gRows, scales, indices,
                        de.mem, de.cols());
            } catch (CLException e) {
                throw failure("gptvqBlock " + w.rows() + "x" + (i2 - i1) + " of " + w.cols() + " columns, k=" + k, e);
            }
        }
    }
}
