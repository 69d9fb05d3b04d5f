package io.vq4j.kernels.tornado;

import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.Tuning;
import io.vq4j.kernels.device.DeviceWeights;
import io.vq4j.kernels.device.GpuArguments;
import io.vq4j.kernels.device.GpuBackend;
import io.vq4j.kernels.device.Partials;
import io.vq4j.kernels.device.Tiles;
import io.vq4j.kernels.device.Tiles.Tile;
import io.vq4j.kernels.packed.PackedMatrix;
import uk.ac.manchester.tornado.api.GridScheduler;
import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.TaskGraph;
import uk.ac.manchester.tornado.api.TornadoExecutionPlan;
import uk.ac.manchester.tornado.api.WorkerGrid1D;
import uk.ac.manchester.tornado.api.WorkerGrid2D;
import uk.ac.manchester.tornado.api.common.TornadoDevice;
import uk.ac.manchester.tornado.api.enums.DataTransferMode;
import uk.ac.manchester.tornado.api.enums.TornadoVMBackendType;
import uk.ac.manchester.tornado.api.runtime.TornadoRuntimeProvider;
import uk.ac.manchester.tornado.api.types.arrays.ByteArray;
import uk.ac.manchester.tornado.api.types.arrays.DoubleArray;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;
import uk.ac.manchester.tornado.api.types.arrays.TornadoNativeArray;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The compute SPI as TornadoVM task graphs ({@link TornadoKernels}) on one TornadoVM device
 * (its OpenCL or PTX backend). Every operation shape gets one {@link TornadoExecutionPlan},
 * built on first use and reused by later calls of that shape (k-means calls the same two
 * shapes every iteration): its off-heap arrays are filled from the host arrays, the plan runs,
 * the results are copied out. Packed weights move to the device once (FIRST_EXECUTION) and
 * stay there for every dequantMatmul; a call's intermediate arrays (the M-step's partials)
 * never leave the device.
 *
 * <p>Plans hold their device buffers between calls. They all count toward the call budget
 * (half the device's memory; {@link #limitCallBytes}): before a plan first runs, the least
 * recently used plans are closed until it fits, and calls too big for the budget run in tiles
 * with the same bits, as on the other GPU backends. Results are the CPU backend's bits:
 * same operation order, contraction only where the CPU fuses (see {@link TornadoKernels}).
 * Tiles, partials and the packed uploads' bookkeeping are {@link GpuBackend}'s; the backend
 * itself is the lock.
 */
public final class TornadoBackend extends GpuBackend<TornadoBackend.TPacked> {
    /** Plans kept at most (each also holds compiled kernels). */
    static final int MAX_PLANS = 32;

    private final TornadoDevice device;
    private final int backendIndex;
    private final int deviceIndex;
    private final Tuning tuning;
    /** Plans by shape, least recently used first. */
    private final LinkedHashMap<Object, Plan> plans = new LinkedHashMap<>(16, 0.75f, true);
    private int graphs;

    /** Opens device {@code deviceIndex} of TornadoVM backend {@code backendIndex}. */
    public TornadoBackend(int backendIndex, int deviceIndex) {
        this(backendIndex, deviceIndex, device(backendIndex, deviceIndex));
    }

    private TornadoBackend(int backendIndex, int deviceIndex, TornadoDevice device) {
        super(device.getMaxGlobalMemory(), device.getMaxAllocMemory());
        this.backendIndex = backendIndex;
        this.deviceIndex = deviceIndex;
        this.device = device;
        long[] maxGroup = device.getDeviceMaxWorkgroupDimensions();
        this.tuning = Tuning.forDevice(description(device), maxGroup.length == 0 ? 256 : maxGroup[0],
                device.getDeviceLocalMemorySize());
        if (device.getDeviceLocalMemorySize() < (long) TornadoKernels.TILE * TornadoKernels.MAX_D * Float.BYTES) {
            throw new IllegalStateException(name() + ": " + device.getDeviceLocalMemorySize()
                    + " bytes of local memory, the assignment kernel needs 16 KiB");
        }
    }

    /** Device {@code deviceIndex} of TornadoVM backend {@code backendIndex}, once the flags are checked. */
    private static TornadoDevice device(int backendIndex, int deviceIndex) {
        checkFlags();
        var runtime = TornadoRuntimeProvider.getTornadoRuntime();
        if (backendIndex < 0 || backendIndex >= runtime.getNumBackends()) {
            throw new IllegalArgumentException("no TornadoVM backend " + backendIndex + " (there are "
                    + runtime.getNumBackends() + "; see vq devices)");
        }
        var backend = runtime.getBackend(backendIndex);
        if (deviceIndex < 0 || deviceIndex >= backend.getNumDevices()) {
            throw new IllegalArgumentException("no device " + deviceIndex + " on TornadoVM backend " + backendIndex
                    + " (" + backend.getName() + " has " + backend.getNumDevices() + "; see vq devices)");
        }
        return backend.getDevice(deviceIndex);
    }

    /**
     * The JVM flags the results depend on: a kernel TornadoVM cannot compile must fail, not run
     * as sequential Java (tornado.recover.bailout=False), and the FMA phase must be on, because
     * the kernels write the CPU's fused multiply-adds as a*b + c.
     */
    static void checkFlags() {
        if (!"false".equalsIgnoreCase(System.getProperty("tornado.recover.bailout", "true"))) {
            throw new IllegalStateException("TornadoVM must run with -Dtornado.recover.bailout=False (scripts/vq"
                    + " --tornado sets it; tornado-config/tornado.flags): otherwise a kernel it cannot compile runs"
                    + " silently as sequential code");
        }
        if ("false".equalsIgnoreCase(System.getProperty("tornado.enable.fma", "true"))) {
            throw new IllegalStateException("TornadoVM runs with -Dtornado.enable.fma=False: the kernels need its FMA"
                    + " phase to fuse a*b + c as the CPU backend does (tornado-config/tornado.flags)");
        }
    }

    static String description(TornadoDevice d) {
        return d.getPhysicalDevice().getDeviceName() + " | " + d.getDeviceType() + " | " + d.getPlatformName()
                + " | " + d.getTornadoVMBackend();
    }

    /** Caps the device bytes this backend's plans may hold (default: half the device's memory). */
    @Override
    public synchronized void limitCallBytes(long bytes) {
        closePlans();
        super.limitCallBytes(bytes);
    }

    @Override
    public Tuning tuning() {
        return tuning;
    }

    /** The TornadoVM device, e.g. for its description. */
    public TornadoDevice device() {
        return device;
    }

    @Override
    public String name() {
        return "tornado:" + backendIndex + ":" + deviceIndex + " " + device.getPhysicalDevice().getDeviceName();
    }

    /** Number of plans built since this backend was opened (a reused plan is not rebuilt). */
    public synchronized int plansBuilt() {
        return graphs;
    }

    @Override
    public synchronized void close() {
        super.close();
        closePlans();
    }

    private void closePlans() {
        for (Plan p : List.copyOf(plans.values())) {
            p.close();
        }
        plans.clear();
    }

    // ------------------------------------------------------------------ plans

    /** One TornadoExecutionPlan and the off-heap arrays its graph was built on. */
    private final class Plan implements AutoCloseable {
        final Object key;
        final TornadoExecutionPlan plan;
        final GridScheduler grid;
        /** Device bytes of the plan's arrays (payload, as the other backends count their buffers). */
        final long bytes;
        final TornadoNativeArray[] arrays;
        boolean onDevice;

        Plan(Object key, TaskGraph graph, GridScheduler grid, long bytes, TornadoNativeArray... arrays) {
            this.key = key;
            this.grid = grid;
            this.bytes = bytes;
            this.arrays = arrays;
            this.plan = new TornadoExecutionPlan(graph.snapshot());
            plan.withDevice(device).withGridScheduler(grid).withCompilerFlags(TornadoVMBackendType.OPENCL, "-w");
        }

        void run(String what) {
            if (!onDevice) {
                makeRoom(bytes, this);
                onDevice = true;
                allocated(bytes);
            }
            try {
                plan.execute();
            } catch (RuntimeException e) {
                close();
                plans.remove(key);
                throw failed(what, oneLine(e), e);
            }
        }

        @Override
        public void close() {
            if (onDevice) {
                onDevice = false;
                allocated(-bytes);
            }
            try {
                plan.close();
            } catch (Exception e) {
                // the device memory is freed or lost with the plan either way
            }
        }
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            m = e.getClass().getSimpleName();
        }
        return m.lines().findFirst().orElse(m);
    }

    /** Closes the least recently used plans (never {@code keep}) until {@code bytes} more fit the budget. */
    private void makeRoom(long bytes, Plan keep) {
        long held = 0;
        for (Plan p : plans.values()) {
            held += p.onDevice ? p.bytes : 0;
        }
        for (TPacked p : uploads()) {
            held += p.plan != null && p.plan != keep && p.plan.onDevice ? p.plan.bytes : 0;
        }
        Iterator<Plan> it = plans.values().iterator();
        while (held + bytes > budget().callBytes() && it.hasNext()) {
            Plan p = it.next();
            if (p != keep && p.onDevice) {
                held -= p.bytes;
                p.close();
                it.remove();
            }
        }
        for (TPacked p : uploads()) {
            if (held + bytes > budget().callBytes() && p.plan != null && p.plan != keep) {
                held -= p.plan.onDevice ? p.plan.bytes : 0;
                p.plan.close();
                p.plan = null;
            }
        }
    }

    private Plan cached(Object key, Supplier<Plan> make) {
        Plan p = plans.get(key);
        if (p == null) {
            p = make.get();
            graphs++;
            plans.put(key, p);
            while (plans.size() > MAX_PLANS) {
                Iterator<Plan> it = plans.values().iterator();
                it.next().close();
                it.remove();
            }
        }
        return p;
    }

    private String graphName(String op) {
        return "vq" + System.identityHashCode(this) + "_" + op + (graphs + 1);
    }

    private static WorkerGrid1D grid1(long global, int local) {
        WorkerGrid1D g = new WorkerGrid1D((int) ((global + local - 1) / local * local));
        g.setLocalWork(local, 1, 1);
        return g;
    }

    private static long bytes(TornadoNativeArray... arrays) {
        long b = 0;
        for (TornadoNativeArray a : arrays) {
            b += a.getNumBytesOfSegment();
        }
        return b;
    }

    private static void put(float[] src, int from, FloatArray dst, int count) {
        MemorySegment.copy(src, from, dst.getSegment(), ValueLayout.JAVA_FLOAT, 0, count);
    }

    private static void put(int[] src, int from, IntArray dst, int count) {
        MemorySegment.copy(src, from, dst.getSegment(), ValueLayout.JAVA_INT, 0, count);
    }

    private static void put(double[] src, DoubleArray dst, int count) {
        MemorySegment.copy(src, 0, dst.getSegment(), ValueLayout.JAVA_DOUBLE, 0, count);
    }

    // ------------------------------------------------------------------ gemm

    private record GemmKey(int m, int n, int k, boolean ta, boolean tb, int alpha, int beta, boolean withBeta) {
    }

    @Override
    public synchronized void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a,
                                  float[] b, float beta, float[] c) {
        GpuArguments.gemm(m, n, k, a, b, c);
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0) {
            scaleOnly(beta, c, m * n);
            return;
        }
        boolean withBeta = beta != 0f;
        GemmKey key = new GemmKey(m, n, k, transA, transB, Float.floatToIntBits(alpha), Float.floatToIntBits(beta),
                withBeta);
        Plan p = cached(key, () -> {
            FloatArray da = new FloatArray(m * k);
            FloatArray db = new FloatArray(k * n);
            FloatArray dc = new FloatArray(m * n);
            String g = graphName("gemm");
            TaskGraph tg = new TaskGraph(g).transferToDevice(DataTransferMode.EVERY_EXECUTION, da, db);
            if (withBeta) {
                tg.transferToDevice(DataTransferMode.EVERY_EXECUTION, dc);
            }
            tg.task("t", TornadoKernels::gemm, new KernelContext(), da, db, dc, m, n, k, transA ? 1 : 0,
                    transB ? 1 : 0, alpha, beta, withBeta ? 1 : 0).transferToHost(DataTransferMode.EVERY_EXECUTION, dc);
            int t = TornadoKernels.GEMM_TILE;
            WorkerGrid2D wg = new WorkerGrid2D((n + t - 1) / t * t, (m + t - 1) / t * t);
            wg.setLocalWork(t, t, 1);
            return new Plan(key, tg, new GridScheduler(g + ".t", wg), bytes(da, db, dc), da, db, dc);
        });
        put(a, 0, (FloatArray) p.arrays[0], m * k);
        put(b, 0, (FloatArray) p.arrays[1], k * n);
        if (withBeta) {
            put(c, 0, (FloatArray) p.arrays[2], m * n);
        }
        p.run(gemmCall(m, n, k));
        MemorySegment.copy(((FloatArray) p.arrays[2]).getSegment(), ValueLayout.JAVA_FLOAT, 0, c, 0, m * n);
    }

    // ------------------------------------------------------------------ assignment

    private record AssignKey(int m, int d, int k, boolean weighted) {
    }

    @Override
    public synchronized void assignNearest(float[] vectors, float[] weights, int n, int d, float[] codebook, int k,
                                           int[] index, float[] distance) {
        GpuArguments.assignNearest(vectors, weights, n, d, codebook, k, index, distance);
        if (n == 0) {
            return;
        }
        int group = tuning.assignGroup();
        boolean weighted = weights != null;
        String what = assignCall(n, d, k);
        for (Tile t : assignTiles(n, d, k, weighted)) {
            int from = t.from();
            int m = t.count();
            AssignKey key = new AssignKey(m, d, k, weighted);
            Plan p = cached(key, () -> {
                FloatArray x = new FloatArray(m * d);
                FloatArray w = new FloatArray(weighted ? m * d : 1);
                FloatArray cb = new FloatArray(k * d);
                IntArray idx = new IntArray(m);
                FloatArray dist = new FloatArray(m);
                String g = graphName("assign");
                TaskGraph tg = new TaskGraph(g).transferToDevice(DataTransferMode.EVERY_EXECUTION, x, cb)
                        .transferToDevice(weighted ? DataTransferMode.EVERY_EXECUTION : DataTransferMode.FIRST_EXECUTION, w)
                        .task("t", TornadoKernels::assignNearest, new KernelContext(), x, w, weighted ? 1 : 0, m, d, cb,
                                k, idx, dist)
                        .transferToHost(DataTransferMode.EVERY_EXECUTION, idx, dist);
                return new Plan(key, tg, new GridScheduler(g + ".t", grid1(m, group)), bytes(x, w, cb, idx, dist),
                        x, w, cb, idx, dist);
            });
            put(vectors, from * d, (FloatArray) p.arrays[0], m * d);
            if (weighted) {
                put(weights, from * d, (FloatArray) p.arrays[1], m * d);
            }
            put(codebook, 0, (FloatArray) p.arrays[2], k * d);
            p.run(what);
            MemorySegment.copy(((IntArray) p.arrays[3]).getSegment(), ValueLayout.JAVA_INT, 0, index, from, m);
            MemorySegment.copy(((FloatArray) p.arrays[4]).getSegment(), ValueLayout.JAVA_FLOAT, 0, distance, from, m);
        }
    }

    // ------------------------------------------------------------------ M-step

    private record AccumulateKey(int m, int d, int k, int chunk, boolean weighted) {
    }

    @Override
    public synchronized void accumulateCentroids(float[] vectors, float[] weights, int n, int d, int[] index, int k,
                                                 double[] sums, double[] weightSums) {
        GpuArguments.accumulateCentroids(vectors, n, d, index, k, sums, weightSums);
        int kd = k * d;
        Arrays.fill(sums, 0, kd, 0.0);
        Arrays.fill(weightSums, 0, kd, 0.0);
        if (n == 0) {
            return;
        }
        int group = tuning.accumulateGroup();
        boolean weighted = weights != null;
        String what = accumulateCall(n, d, k);
        Partials parts = partials(n, d, k, weighted);
        int ch = parts.vectors();
        for (Tile t : parts.tiles()) {
            int from = t.from();
            int m = t.count();
            AccumulateKey key = new AccumulateKey(m, d, k, ch, weighted);
            Plan p = cached(key, () -> {
                int tp = parts.in(t);
                FloatArray x = new FloatArray(m * d);
                FloatArray w = new FloatArray(weighted ? m * d : 1);
                IntArray idx = new IntArray(m);
                DoubleArray ps = new DoubleArray(tp * kd);
                DoubleArray pw = new DoubleArray(tp * kd);
                DoubleArray s = new DoubleArray(kd);
                DoubleArray sw = new DoubleArray(kd);
                String g = graphName("accumulate");
                KernelContext kc = new KernelContext();
                TaskGraph tg = new TaskGraph(g).transferToDevice(DataTransferMode.EVERY_EXECUTION, x, idx, s, sw)
                        .transferToDevice(weighted ? DataTransferMode.EVERY_EXECUTION : DataTransferMode.FIRST_EXECUTION, w)
                        .transferToDevice(DataTransferMode.FIRST_EXECUTION, ps, pw)
                        .task("zero", TornadoKernels::zero, kc, ps, pw, tp * kd)
                        .task("partials", TornadoKernels::accumulatePartials, kc, x, w, weighted ? 1 : 0, m, d, idx, k, ch,
                                ps, pw)
                        .task("reduce", TornadoKernels::reducePartials, kc, ps, pw, tp, kd, s, sw)
                        .transferToHost(DataTransferMode.EVERY_EXECUTION, s, sw);
                GridScheduler gs = new GridScheduler(g + ".zero", grid1((long) tp * kd, 64));
                gs.addWorkerGrid(g + ".partials", grid1((long) tp * group, group));
                gs.addWorkerGrid(g + ".reduce", grid1(kd, 64));
                return new Plan(key, tg, gs, bytes(x, w, idx, ps, pw, s, sw), x, w, idx, ps, pw, s, sw);
            });
            put(vectors, from * d, (FloatArray) p.arrays[0], m * d);
            if (weighted) {
                put(weights, from * d, (FloatArray) p.arrays[1], m * d);
            }
            put(index, from, (IntArray) p.arrays[2], m);
            put(sums, (DoubleArray) p.arrays[5], kd); // the running sums: zeros, then the earlier tiles'
            put(weightSums, (DoubleArray) p.arrays[6], kd);
            p.run(what);
            MemorySegment.copy(((DoubleArray) p.arrays[5]).getSegment(), ValueLayout.JAVA_DOUBLE, 0, sums, 0, kd);
            MemorySegment.copy(((DoubleArray) p.arrays[6]).getSegment(), ValueLayout.JAVA_DOUBLE, 0, weightSums, 0, kd);
        }
    }

    // ------------------------------------------------------------------ packed weights

    /** Packed weights as TornadoVM arrays; the device copy lives in the plan of their dequantMatmul. */
    final class TPacked extends DeviceWeights {
        final IntArray seg;
        final IntArray stages;
        final ByteArray bytes;
        final FloatArray floats;
        final IntArray ints;
        /** The dequantMatmul plan (null until the first call, or after it was closed for room). */
        Plan plan;
        WorkerGrid1D grid;
        int capacity;

        TPacked(PackedMatrix m) {
            super(TornadoBackend.this, m);
            this.seg = ints(m.segmentTable());
            this.stages = ints(m.stageTable());
            this.bytes = ByteArray.fromArray(m.bytes().length == 0 ? new byte[1] : m.bytes());
            this.floats = FloatArray.fromArray(m.floats().length == 0 ? new float[1] : m.floats());
            this.ints = ints(m.ints());
        }

        private static IntArray ints(int[] a) {
            return IntArray.fromArray(a.length == 0 ? new int[1] : a);
        }

        @Override
        protected void free() {
            if (plan != null) {
                plan.close();
                plan = null;
            }
        }
    }

    @Override
    protected TPacked uploadPacked(PackedMatrix matrix) {
        return new TPacked(matrix);
    }

    @Override
    public synchronized void dequant(PackedWeights weights, float[] out) {
        TPacked p = own(weights);
        PackedMatrix m = p.matrix();
        int count = (int) GpuArguments.dequant(m, out);
        // a plan of its own, closed after the call: it holds a second device copy of the weights meanwhile
        FloatArray dout = new FloatArray(count);
        String g = graphName("dequant");
        TaskGraph tg = new TaskGraph(g)
                .transferToDevice(DataTransferMode.FIRST_EXECUTION, p.seg, p.stages, p.bytes, p.floats, p.ints)
                .task("t", TornadoKernels::packedDequant, new KernelContext(), p.seg, m.segmentCount(), p.stages,
                        p.bytes, p.floats, p.ints, m.rows(), m.cols(), m.permOffset(), m.normScaleOffset(),
                        m.normBiasOffset(), dout)
                .transferToHost(DataTransferMode.EVERY_EXECUTION, dout);
        graphs++;
        Plan plan = new Plan("dequant", tg, new GridScheduler(g + ".t", grid1(count, tuning.packedGroup())),
                p.deviceBytes() + bytes(dout), dout);
        try {
            plan.run(dequantCall(m));
            MemorySegment.copy(dout.getSegment(), ValueLayout.JAVA_FLOAT, 0, out, 0, count);
        } finally {
            plan.close();
        }
    }

    @Override
    public synchronized void dequantMatmul(PackedWeights weights, float[] x, int n, float[] y) {
        TPacked p = own(weights);
        PackedMatrix m = p.matrix();
        int rows = m.rows();
        int cols = m.cols();
        GpuArguments.dequantMatmul(m, x, n, y);
        if (n == 0) {
            return;
        }
        String what = matmulCall(rows, cols, n);
        Tiles tiles = matmulTiles(n, rows, cols);
        int tile = tiles.size();
        if (p.plan == null || p.capacity < tile) {
            if (p.plan != null) {
                p.plan.close();
            }
            FloatArray dx = new FloatArray(tile * cols);
            FloatArray dy = new FloatArray(tile * rows);
            String g = graphName("matmul");
            TaskGraph tg = new TaskGraph(g)
                    .transferToDevice(DataTransferMode.FIRST_EXECUTION, p.seg, p.stages, p.bytes, p.floats, p.ints)
                    .transferToDevice(DataTransferMode.EVERY_EXECUTION, dx)
                    .task("t", TornadoKernels::packedMatmul, new KernelContext(), p.seg, m.segmentCount(), p.stages,
                            p.bytes, p.floats, p.ints, rows, cols, m.permOffset(), m.normScaleOffset(),
                            m.normBiasOffset(), dx, dy)
                    .transferToHost(DataTransferMode.EVERY_EXECUTION, dy);
            graphs++;
            p.grid = new WorkerGrid1D(tile * rows);
            p.plan = new Plan(p, tg, new GridScheduler(g + ".t", p.grid), bytes(dx, dy), dx, dy);
            p.capacity = tile;
        }
        Plan plan = p.plan;
        WorkerGrid1D wg = p.grid;
        for (Tile tl : tiles) {
            int from = tl.from();
            int t = tl.count();
            put(x, from * cols, (FloatArray) plan.arrays[0], t * cols);
            wg.setGlobalWork((long) t * rows, 1, 1); // the grid is exactly the outputs of this tile
            wg.setLocalWorkToNull();
            try {
                plan.run(what);
            } catch (IllegalStateException e) {
                p.plan = null;
                throw e;
            }
            MemorySegment.copy(((FloatArray) plan.arrays[1]).getSegment(), ValueLayout.JAVA_FLOAT, 0, y,
                    from * rows, t * rows);
        }
    }

    /** For tests: the plans held now, by kind. */
    synchronized Map<String, Integer> planCounts() {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (Object k : plans.keySet()) {
            out.merge(k.getClass().getSimpleName(), 1, Integer::sum);
        }
        List<TPacked> withPlans = new ArrayList<>();
        for (TPacked p : uploads()) {
            if (p.plan != null) {
                withPlans.add(p);
            }
        }
        out.put("packed", withPlans.size());
        return out;
    }
}
