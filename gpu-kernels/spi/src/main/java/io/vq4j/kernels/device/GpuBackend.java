package io.vq4j.kernels.device;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.Tuning;
import io.vq4j.kernels.packed.PackedMatrix;

import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * What every GPU backend shares, written once, so that a backend keeps only what talks to its
 * runtime (buffers, launches): the call budget and how a call splits into tiles under it
 * ({@link #assignTiles}, {@link #partials}, {@link #matmulTiles}), the packed uploads it owns
 * (counted in its device memory, checked by {@link #own}, released by {@link #close()}), the
 * peak of its device memory, and the messages a failed or oversized call throws. Tiling never
 * changes a bit: every vector and row is computed alone, and the M-step's tiles hold whole
 * {@link Partials}.
 *
 * <p>Uploads, their release and the budget are guarded by one lock: the device object, which the
 * backends opened on the same device share, or the backend itself. A subclass runs its calls
 * under the same lock.
 *
 * @param <H> the backend's packed uploads
 */
public abstract class GpuBackend<H extends DeviceWeights> implements Backend {
    private final Object lock;
    private final long maxAlloc;
    private final DeviceMemoryCount memory = new DeviceMemoryCount();
    /** Packed weights uploaded by this backend and not yet closed (guarded by lock). */
    private final Set<H> uploads = Collections.newSetFromMap(new IdentityHashMap<>());
    private DeviceBudget budget;

    /**
     * A backend guarded by {@code lock} on a device of {@code globalMemory} bytes whose single
     * buffers may hold {@code maxAlloc} bytes: each call may hold half the device's memory.
     */
    protected GpuBackend(Object lock, long globalMemory, long maxAlloc) {
        this.lock = Objects.requireNonNull(lock);
        this.maxAlloc = Math.max(1, maxAlloc);
        this.budget = new DeviceBudget(Math.max(1, globalMemory / 2), this.maxAlloc);
    }

    /** The same, guarded by the backend itself. */
    protected GpuBackend(long globalMemory, long maxAlloc) {
        this.lock = this;
        this.maxAlloc = Math.max(1, maxAlloc);
        this.budget = new DeviceBudget(Math.max(1, globalMemory / 2), this.maxAlloc);
    }

    /** The work-group and tile sizes in use (from tornado-config/profiles). */
    public abstract Tuning tuning();

    /**
     * Caps the device bytes one call may hold (default: half the device's memory); bigger
     * inputs are processed in tiles, with the same results.
     */
    public void limitCallBytes(long bytes) {
        synchronized (lock) {
            budget = new DeviceBudget(bytes, Math.min(bytes, maxAlloc));
        }
    }

    /** The budget in force (read under the lock). */
    protected final DeviceBudget budget() {
        return budget;
    }

    // ---- device memory ----------------------------------------------------------------------

    /** Counts device bytes allocated (positive) or released (negative) by the subclass. */
    protected final void allocated(long delta) {
        memory.add(delta);
    }

    @Override
    public final long peakDeviceBytes() {
        return memory.peak();
    }

    @Override
    public final void resetPeakDeviceBytes() {
        memory.resetPeak();
    }

    // ---- packed uploads ---------------------------------------------------------------------

    @Override
    public final PackedWeights upload(PackedMatrix matrix) {
        Objects.requireNonNull(matrix);
        synchronized (lock) {
            H h = uploadPacked(matrix);
            allocated(h.deviceBytes());
            uploads.add(h);
            return h;
        }
    }

    /**
     * Makes the packed arrays ready on the device (called under the lock). On failure it frees
     * what it made and throws {@link #failed} naming {@link #uploadCall}.
     */
    protected abstract H uploadPacked(PackedMatrix matrix);

    /** The upload behind {@code weights}: refused when another backend made it, or it is closed. */
    @SuppressWarnings("unchecked")
    protected final H own(PackedWeights weights) {
        if (!(weights instanceof DeviceWeights w) || w.owner() != this) {
            throw new IllegalArgumentException("packed weights from another backend: " + weights);
        }
        if (w.closed) {
            throw new IllegalStateException("packed weights used after close()");
        }
        return (H) w;
    }

    /** Closes {@code w} once: no longer owned or counted, its device memory freed. */
    final void release(DeviceWeights w) {
        synchronized (lock) {
            if (!w.closed) {
                w.closed = true;
                uploads.remove(w);
                allocated(-w.deviceBytes());
                w.free();
            }
        }
    }

    /** The open uploads, for a backend that keeps more beside them (read under the lock). */
    protected final Collection<H> uploads() {
        return Collections.unmodifiableSet(uploads);
    }

    /** Device bytes held by open packed uploads. */
    public final long packedBytes() {
        synchronized (lock) {
            return uploads.stream().mapToLong(PackedWeights::deviceBytes).sum();
        }
    }

    /** Releases the device memory of every packed upload and resident matrix still open. The device itself stays shared. */
    @Override
    public void close() {
        synchronized (lock) {
            for (H h : List.copyOf(uploads)) {
                h.close();
            }
            for (DeviceMatrix m : List.copyOf(matrices)) {
                m.close();
            }
        }
    }

    // ---- resident matrices ------------------------------------------------------------------

    /** Resident matrices made by this backend and not yet closed (guarded by lock). */
    private final Set<DeviceMatrix> matrices = Collections.newSetFromMap(new IdentityHashMap<>());

    /** Counts and keeps a resident matrix the subclass just made (call under the lock). */
    protected final <M extends DeviceMatrix> M track(M m) {
        allocated(m.deviceBytes());
        matrices.add(m);
        return m;
    }

    /** The resident matrix behind {@code m}: refused when another backend made it, or it is closed. */
    @SuppressWarnings("unchecked")
    protected final <M extends DeviceMatrix> M own(ResidentMatrix m, Class<M> type) {
        if (!(m instanceof DeviceMatrix d) || d.owner() != this || !type.isInstance(m)) {
            throw new IllegalArgumentException("resident matrix from another backend: " + m);
        }
        if (d.closed) {
            throw new IllegalStateException("resident matrix used after close()");
        }
        return (M) m;
    }

    final void release(DeviceMatrix m) {
        synchronized (lock) {
            if (!m.closed) {
                m.closed = true;
                matrices.remove(m);
                allocated(-m.deviceBytes());
                m.free();
            }
        }
    }

    /** Resident matrices as host arrays (the SPI's defaults), for a backend whose device cannot hold them. */
    protected final ResidentMatrix hostResident(float[] values, int rows, int cols) {
        return Backend.super.resident(values, rows, cols);
    }

    protected final void hostRead(ResidentMatrix m, int row, int col, int rows, int cols, float[] dst, int offset,
                                  int ld) {
        Backend.super.read(m, row, col, rows, cols, dst, offset, ld);
    }

    protected final void hostWrite(ResidentMatrix m, int row, int col, int rows, int cols, float[] src, int offset,
                                   int ld) {
        Backend.super.write(m, row, col, rows, cols, src, offset, ld);
    }

    /** The SPI's default gemm on resident matrices: copies of the views through the array gemm. */
    protected final void hostGemm(boolean transA, boolean transB, int m, int n, int k, float alpha, ResidentMatrix a,
                                  int aRow, int aCol, ResidentMatrix b, int bRow, int bCol, float beta, ResidentMatrix c,
                                  int cRow, int cCol) {
        Backend.super.gemm(transA, transB, m, n, k, alpha, a, aRow, aCol, b, bRow, bCol, beta, c, cRow, cCol);
    }

    /** The SPI's default gptqBlock (the CPU's code through read and write), for a device that cannot run the kernel. */
    protected final void hostGptqBlock(ResidentMatrix w, int i1, int i2, double[] ub, int bits, int groupSize,
                                       boolean symmetric, int[] codes, float[] scales, int[] zeros, ResidentMatrix err) {
        Backend.super.gptqBlock(w, i1, i2, ub, bits, groupSize, symmetric, codes, scales, zeros, err);
    }

    /** The SPI's default gptvqBlock (the CPU's code through read and write), for a device that cannot run the kernel. */
    protected final void hostGptvqBlock(ResidentMatrix w, int i1, int i2, double[] ub, double[] dw, int d,
                                        float[] books, int k, int gRows, float[] scales, int[] indices,
                                        ResidentMatrix err) {
        Backend.super.gptvqBlock(w, i1, i2, ub, dw, d, books, k, gRows, scales, indices, err);
    }

    protected static String residentCall(String op, int rows, int cols) {
        return op + " of resident " + rows + "x" + cols;
    }

    // ---- tiles under the budget (call these under the lock) --------------------------------

    /**
     * The tiles of an assignNearest call: the codebook stays on the device for the whole call;
     * each vector brings its row (and its weights), its index and its distance. Tiles are whole
     * work-groups where that many fit.
     */
    protected final Tiles assignTiles(int n, int d, int k, boolean weighted) {
        long perVector = (long) d * Float.BYTES * (weighted ? 2 : 1) + Integer.BYTES + Float.BYTES;
        return tiles(n, (long) k * d * Float.BYTES, perVector, (long) d * Float.BYTES, tuning().assignGroup(),
                assignCall(n, d, k));
    }

    /**
     * The partials and tiles of an accumulateCentroids call: the partials and the k×d sums (in
     * double) stay for the whole call; each vector brings its row (and weights) and its index.
     * Refused when not even one partial fits.
     */
    protected final Partials partials(int n, int d, int k, boolean weighted) {
        long kd = (long) k * d;
        int vectors = Partials.vectorsPer(n, kd);
        int count = (n + vectors - 1) / vectors;
        long perVector = (long) d * Float.BYTES * (weighted ? 2 : 1) + Integer.BYTES;
        long fixedBytes = 2 * (count + 1L) * kd * Double.BYTES;
        String what = accumulateCall(n, d, k);
        Tiles tiles = tiles(n, fixedBytes, perVector, (long) d * Float.BYTES, vectors, what);
        if (tiles.size() < n && tiles.size() % vectors != 0) {
            throw new IllegalStateException(name() + ": " + what + " does not fit the device: not even one partial of "
                    + vectors + " vectors fits");
        }
        return new Partials(vectors, count, tiles);
    }

    /** The tiles of a dequantMatmul call: each input row brings its x row and its y row. */
    protected final Tiles matmulTiles(int n, int rows, int cols) {
        return tiles(n, 0, ((long) cols + rows) * Float.BYTES, (long) Math.max(cols, rows) * Float.BYTES, 1,
                matmulCall(rows, cols, n));
    }

    private Tiles tiles(int items, long fixedBytes, long perItem, long largestPerItem, int multiple, String what) {
        return new Tiles(items, (int) budget.itemsPerTile(items, fixedBytes, perItem, largestPerItem, multiple,
                name() + ": " + what));
    }

    // ---- gemm's host-side cases ---------------------------------------------------------------

    /** C = beta C (k = 0: no product, which some libraries refuse), on the host. */
    protected static void scaleOnly(float beta, float[] c, int count) {
        for (int i = 0; i < count; i++) {
            c[i] = beta == 0f ? 0f : beta * c[i];
        }
    }

    // ---- messages: the same on every device -------------------------------------------------

    /** "name: what failed: why", the one line a call that the device could not run throws. */
    protected final IllegalStateException failed(String what, String why) {
        return new IllegalStateException(name() + ": " + what + " failed: " + why);
    }

    /** The same, with the runtime's exception as the cause. */
    protected final IllegalStateException failed(String what, String why, Throwable cause) {
        return new IllegalStateException(name() + ": " + what + " failed: " + why, cause);
    }

    protected static String gemmCall(int m, int n, int k) {
        return "gemm " + m + "x" + n + "x" + k;
    }

    protected static String assignCall(int n, int d, int k) {
        return "assignNearest n=" + n + " d=" + d + " k=" + k;
    }

    protected static String accumulateCall(int n, int d, int k) {
        return "accumulateCentroids n=" + n + " d=" + d + " k=" + k;
    }

    protected static String uploadCall(PackedMatrix m) {
        return "upload of packed " + m.rows() + "x" + m.cols() + " (" + m.deviceBytes() + " bytes)";
    }

    protected static String dequantCall(PackedMatrix m) {
        return "dequant " + m.rows() + "x" + m.cols();
    }

    protected static String matmulCall(int rows, int cols, int n) {
        return "dequantMatmul " + rows + "x" + cols + " n=" + n;
    }
}
