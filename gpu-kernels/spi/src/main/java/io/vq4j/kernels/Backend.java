package io.vq4j.kernels;

import io.vq4j.kernels.assign.GemmAssign;
import io.vq4j.kernels.feedback.GptqBlock;
import io.vq4j.kernels.feedback.GptvqBlock;
import io.vq4j.kernels.linalg.Gram;
import io.vq4j.kernels.linalg.InverseCholesky;
import io.vq4j.kernels.packed.PackedMatrix;

/**
 * The compute SPI: the heavy operations of the quantizers, behind one interface so the
 * algorithms never know which device runs them. The CPU backend is the reference every other
 * backend is tested against. Arrays are row-major host arrays; a backend that keeps data on a
 * device copies in and out, except what it holds as a {@link ResidentMatrix} between calls.
 *
 * <p>Every operation is deterministic: the same inputs give the same bits, whatever the
 * thread count.
 */
public interface Backend extends AutoCloseable {
    /** e.g. "cpu (2 threads)", "opencl:0 NVIDIA H100". */
    String name();

    /**
     * C = alpha · op(A) · op(B) + beta · C, with op(A) m×k and op(B) k×n; A is stored m×k
     * (k×m when transA), B k×n (n×k when transB), C m×n. With beta = 0, C's old contents are
     * ignored (NaN included).
     */
    void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, float[] b, float beta,
              float[] c);

    /**
     * For each of the n vectors (n×d), the centroid (of k, k×d) at the least distance
     * Σ_j w_ij (x_ij − c_j)², with per-dimension weights (n×d) or, when weights is null, w = 1.
     * Writes index[i] and distance[i]. Ties go to the lowest centroid index. The distance is
     * defined to the bit, the same on every backend: acc = 0, then for j = 0 … d−1 in order,
     * diff = c_j − x_ij and acc = fma(diff, diff, acc), weighted acc = fma(w_ij · diff, diff, acc)
     * (w_ij · diff rounded, then one fused multiply-add).
     */
    void assignNearest(float[] vectors, float[] weights, int n, int d, float[] codebook, int k, int[] index,
                       float[] distance);

    /**
     * {@link #assignNearest} in the matmul form ({@link GemmAssign}): the least score
     * ‖c‖² − 2x·c (weighted Σ w c² − 2 Σ (w x) c) through this backend's gemm, tile by tile, with
     * a fused running argmin (ties to the lowest index); distance[i] is then the defined distance
     * to index[i], as assignNearest computes it for that centroid. The index equals
     * assignNearest's except at near-ties: where the exact distances δ_a, δ_b of the two
     * candidates (in real arithmetic) differ by at most tol_a + tol_b, with
     * tol_c = (2d + 4) u Σ_j w_j (|x_j| + |c_j|)² and u = 2⁻²⁴: a score is within about (2d + 1) u
     * of that sum of magnitudes (a gemm of d + 1 products, weighted 2d, in any order, with ‖c‖²,
     * c∘c or w∘x rounded before it), an exact distance within (d + 3) u, and each form's choice
     * is no worse than the other's by its own two errors. The same inputs give the same indices on
     * every run (fixed tiles). The default runs the array gemm on tiles and scans them on the host.
     */
    default void assignNearestGemm(float[] vectors, float[] weights, int n, int d, float[] codebook, int k,
                                   int[] index, float[] distance) {
        GemmAssign.viaGemm(this::gemm, vectors, weights, n, d, codebook, k, index, distance);
    }

    /**
     * For each A of {@code as} (rows × n, row-major): tr(A H Aᵀ) = Σ_r a_r H a_rᵀ, H n×n (float,
     * row-major) and symmetric, which the caller ensures. The products a_r H are float sums, the
     * outer sum is double. Not defined to the bit: a backend may use H's symmetry (half the
     * products); every backend is within (n + 2)·2⁻²⁴·tr(|A| |H| |A|ᵀ) of the exact value, and the
     * same inputs give the same result on every run. The quantizers' report of H-weighted errors
     * (tr(ΔHΔᵀ) and tr(WHWᵀ)) is this. The default runs the array gemm (H as its own transpose)
     * and sums a_ri·(AH)_ri on the host in row-major order.
     */
    default double[] quadraticForms(float[] h, int n, int rows, float[]... as) {
        double[] q = new double[as.length];
        float[] ah = new float[Math.multiplyExact(rows, n)];
        for (int i = 0; i < as.length; i++) {
            float[] a = as[i];
            gemm(false, true, rows, n, n, 1f, a, h, 0f, ah);
            double s = 0;
            for (int j = 0; j < ah.length; j++) {
                s += (double) a[j] * ah[j];
            }
            q[i] = s;
        }
        return q;
    }

    /** {@link #assignNearest} or {@link #assignNearestGemm}, as {@code method} says. */
    default void assignNearest(AssignMethod method, float[] vectors, float[] weights, int n, int d, float[] codebook,
                               int k, int[] index, float[] distance) {
        if (method == AssignMethod.GEMM) {
            assignNearestGemm(vectors, weights, n, d, codebook, k, index, distance);
        } else {
            assignNearest(vectors, weights, n, d, codebook, k, index, distance);
        }
    }

    /**
     * The faster assignment method on this backend for the shape, by the measured rule
     * ({@link AssignMethod#forShape}); EXACT where nothing was measured.
     */
    default AssignMethod assignMethod(int n, int d, int k, boolean weighted) {
        return AssignMethod.EXACT;
    }

    /**
     * The M-step of (weighted) k-means: for every centroid c and dimension j,
     * sums[c·d + j] = Σ_{i: index[i] = c} w_ij x_ij and weightSums[c·d + j] = Σ_{i: index[i] = c} w_ij
     * (w = 1 when weights is null). Both arrays (k×d) are overwritten. Summed in a fixed order
     * (fixed partials, then a second pass), never with atomics.
     */
    void accumulateCentroids(float[] vectors, float[] weights, int n, int d, int[] index, int k, double[] sums,
                             double[] weightSums);

    /**
     * Makes packed weights ready for {@link #dequant} and {@link #dequantMatmul} (a GPU backend
     * copies them to its device once). Close the handle to release them.
     */
    PackedWeights upload(PackedMatrix matrix);

    /** W (rows × cols, row-major) decoded from packed weights, bit for bit as the CPU reference. */
    void dequant(PackedWeights weights, float[] out);

    /**
     * Y = X · Wᵀ straight from packed weights, without a dense copy of W: x is n × cols and
     * y is n × rows. Each output sums over the stored column positions in order, as
     * {@link io.vq4j.kernels.packed.PackedReference#matmul}; except that a GPU backend computes
     * a call with n = 1 (a matrix-vector product) as a work-group per row with a tree of partial
     * sums, which differs from that order by rounding only: within
     * 2 · cols · 2⁻²⁴ · Σ_c |W[r, c] x[c]| of it, and the same bits on every run.
     */
    void dequantMatmul(PackedWeights weights, float[] x, int n, float[] y);

    /** y = W x (x of cols, y of rows). */
    default void dequantMatvec(PackedWeights weights, float[] x, float[] y) {
        dequantMatmul(weights, x, 1, y);
    }

    // ---- device-resident matrices (issue 16): upload once, operate in place, read back once ----

    /**
     * rows × cols values (row-major) as a matrix this backend holds until it is closed. The CPU
     * backend keeps the array itself, so its operations write into {@code values}; a GPU backend
     * copies it to its device once. The default (a backend without device buffers) is the host
     * array, as on the CPU.
     */
    default ResidentMatrix resident(float[] values, int rows, int cols) {
        return new HostMatrix(values, rows, cols, this);
    }

    /**
     * Weights W (rows × cols, row-major) for gemm's B operand, as in the forward's Y = X · Wᵀ
     * (transB, the whole matrix): a resident matrix the caller does not change while it is open,
     * so that a backend may hold them in a form of its own, made once at upload, instead of
     * preparing them on every gemm. The CPU backend packs them for its gemm here (4 bytes a weight
     * beside the array, until closed; its gemm's bits are those of {@link #resident}'s) and refuses
     * writes to them. The default is {@link #resident}: a device copy on a GPU backend.
     */
    default ResidentMatrix residentWeights(float[] values, int rows, int cols) {
        return resident(values, rows, cols);
    }

    /** Copies the sub-matrix at (row, col), rows × cols, of m to dst at offset, row stride ld. */
    default void read(ResidentMatrix m, int row, int col, int rows, int cols, float[] dst, int offset, int ld) {
        HostMatrix.of(m, this).read(row, col, rows, cols, dst, offset, ld);
    }

    /** Copies src (at offset, row stride ld) into the sub-matrix at (row, col), rows × cols, of m. */
    default void write(ResidentMatrix m, int row, int col, int rows, int cols, float[] src, int offset, int ld) {
        HostMatrix.of(m, this).write(row, col, rows, cols, src, offset, ld);
    }

    /**
     * {@link #gemm(boolean, boolean, int, int, int, float, float[], float[], float, float[]) gemm}
     * on sub-matrices of resident matrices, in place: C' = alpha · op(A') · op(B') + beta · C',
     * where A' is the sub-matrix of a at (aRow, aCol) of m × k (k × m when transA), B' that of b at
     * (bRow, bCol) of k × n (n × k when transB) and C' that of c at (cRow, cCol) of m × n; each
     * matrix's leading dimension is its own column count. Every element is computed as the array
     * gemm computes it. C' must not overlap A' or B'.
     */
    default void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, ResidentMatrix a, int aRow,
                      int aCol, ResidentMatrix b, int bRow, int bCol, float beta, ResidentMatrix c, int cRow, int cCol) {
        int ar = transA ? k : m, ac = transA ? m : k, br = transB ? n : k, bc = transB ? k : n;
        float[] av = new float[ar * ac];
        float[] bv = new float[br * bc];
        float[] cv = new float[m * n];
        read(a, aRow, aCol, ar, ac, av, 0, ac);
        read(b, bRow, bCol, br, bc, bv, 0, bc);
        if (beta != 0f) {
            read(c, cRow, cCol, m, n, cv, 0, n);
        }
        gemm(transA, transB, m, n, k, alpha, av, bv, beta, cv);
        write(c, cRow, cCol, m, n, cv, 0, n);
    }

    // ---- the decoder forward on resident activations (issue 17) --------------------------------

    /**
     * This backend's forward ops on its resident matrices ({@link ForwardOps}), or null where it has
     * none of its own: the caller then runs the model's host forward. The CPU backend's are the
     * reference (io.vq4j.kernels.cpu.HostForwardOps).
     */
    default ForwardOps forwardOps() {
        return null;
    }

    /**
     * Whether this backend computes on the host's own CPU cores (the CPU backend; an OpenCL CPU
     * device such as PoCL). The calibration forward then runs the CPU's code unless its forward
     * ops are the reference's ({@code io.vq4j.model.ResidentBlock}): the same cores, and the CPU's bits.
     */
    default boolean hostCpu() {
        return true;
    }

    // ---- the Hessian and its factor, for the error-feedback methods (gptq, gptvq, vptq) --------
    // A backend without a device version runs the CPU's blocked, multi-threaded code (io.vq4j.kernels.linalg).

    /**
     * h[i·dim + j] += Σ_r x[r·dim + i]·x[r·dim + j] for j ≤ i: the lower triangle of XᵀX added to a
     * double sum (x rows×dim row-major, h dim×dim). Each float product is exact in double and
     * summed in double, per element in a fixed order: rows in chunks of 256 (summed from 0 in row
     * order, then added to h), whatever the thread count or device. The strict upper triangle of h
     * is not touched.
     */
    default void accumulateGram(float[] x, int rows, int dim, double[] h) {
        Gram.accumulate(x, rows, dim, h);
    }

    /**
     * {@link #accumulateGram(float[], int, int, double[]) accumulateGram} of the first rows of a
     * resident matrix (its column count is dim), with the same sums. The default works on the host
     * array itself where the matrix is one of this backend's host arrays (no copy), else on a copy
     * of the rows read back; a backend whose Hessian runs on its device reads nothing back.
     */
    default void accumulateGram(ResidentMatrix x, int rows, double[] h) {
        x.checkRegion("accumulateGram", 0, 0, rows, x.cols());
        float[] v;
        if (x instanceof HostMatrix hm && hm.ownedBy(this)) {
            v = HostMatrix.of(x, this).values();
        } else {
            v = new float[Math.multiplyExact(rows, x.cols())];
            read(x, 0, 0, rows, x.cols(), v, 0, x.cols());
        }
        accumulateGram(v, rows, x.cols(), h);
    }

    /**
     * Gram sums of width dim, all zero, that stay where this backend computes until taken
     * ({@link GramSums}): each batch costs its inputs' move in, not the dim² sums' in and out. The
     * same sums as {@link #accumulateGram(float[], int, int, double[]) accumulateGram} into a host
     * array, which the default does ({@link GramSums#onHost}).
     */
    default GramSums gramSums(int dim) {
        return GramSums.onHost(this, dim);
    }

    /**
     * The proxy Hessian H = 2/count · Σ x xᵀ from {@link #accumulateGram}'s sums (their lower
     * triangle), in place, dampened: for j ≤ i, v = h[i·dim + j] · (2 / count) goes to both
     * h[i·dim + j] and h[j·dim + i]; a diagonal element that is then 0 (a column that never saw a
     * non-zero input) becomes 1; then every diagonal element gets percdamp · mean(diag H), the mean
     * summed in index order. hf, when not null, receives (float) of every element of H. The same
     * bits on every backend (the element operations are exact in their order); the default is the
     * CPU's tiled, multi-threaded code.
     */
    default void hessianFromGram(double[] h, int dim, long count, double percdamp, float[] hf) {
        Gram.hessian(h, dim, count, percdamp, hf);
    }

    /**
     * Overwrites {@code a} (n×n row-major, symmetric; its upper triangle is read) with U, upper
     * triangular with a positive diagonal and zeros below, UᵀU = A⁻¹. Returns false, leaving
     * {@code a} unspecified, when A is not numerically positive definite (a pivot ≤ 0 or not
     * finite); the caller then dampens and retries. Deterministic; within 1e-10 (relative
     * Frobenius, on a well-conditioned H) of the scalar reference on every backend.
     */
    default boolean inverseCholeskyUpper(double[] a, int n) {
        return InverseCholesky.inPlace(a, n);
    }

    // ---- the in-block step of the error-feedback loop (issue 16) -------------------------------

    /**
     * GPTQ's in-block step for a scalar grid on the resident W (rows × cols), block columns
     * [i1, i2): for every row, for j = i1 … i2 − 1 left to right, at a group's first column (j a
     * multiple of g, g = groupSize or cols when groupSize ≤ 0) its grid from W's columns
     * [j, min(cols, j + g)) as they are then ({@link io.vq4j.kernels.feedback.ScalarGrid#of}, stored in
     * scales and zeros, rows × groups), otherwise the group's stored grid; then q = code of w_j
     * (into codes, rows × cols), e = (float) ((w_j − deq(q)) / U_jj) in double (into err's column
     * j − i1) and w_l −= (float) (e · U_jl) for j &lt; l &lt; i2 (the product in double rounded to
     * float, then a float subtraction). ub is U[i1:i2, i1:i2] (width × width, row-major, double).
     * The bits are those of {@link io.vq4j.kernels.feedback.GptqBlock}, the CPU's code, on every
     * backend; W's block columns are left unspecified (they are not read again). A grid whose scale
     * is outside fp16 throws IllegalArgumentException, as the CPU's. The default (the CPU backend's)
     * copies the block's columns, and those its new grids read, out of W, runs the rows in parallel
     * and writes the errors; W itself is not written.
     */
    default void gptqBlock(ResidentMatrix w, int i1, int i2, double[] ub, int bits, int groupSize, boolean symmetric,
                           int[] codes, float[] scales, int[] zeros, ResidentMatrix err) {
        GptqBlock.check(w.rows(), w.cols(), err.rows(), err.cols(), i1, i2, ub, bits, groupSize, codes, scales, zeros);
        int rows = w.rows(), cols = w.cols(), width = i2 - i1;
        int ext = GptqBlock.gridEnd(i1, i2, GptqBlock.groupWidth(groupSize, cols), cols);
        float[] block = new float[rows * width];
        float[] extra = ext > i2 ? new float[rows * (ext - i2)] : null;
        float[] e = new float[rows * width];
        read(w, 0, i1, rows, width, block, 0, width);
        if (extra != null) {
            read(w, 0, i2, rows, ext - i2, extra, 0, ext - i2);
        }
        GptqBlock.run(block, extra, e, rows, cols, i1, i2, ub, bits, groupSize, symmetric, codes, scales, zeros);
        write(err, 0, 0, rows, width, e, 0, width);
    }

    /**
     * GPTVQ's in-block step on the resident W (rows × cols), block columns [i1, i2) in slices of d
     * (i1, i2 − i1 and cols multiples of d): for each slice left to right, every row's sub-vector
     * x_t = w_t / s (s the row's block-norm scale of the slice, scales[r · (width/d) + slice], or 1
     * when scales is null) goes to the nearest centroid of its row block's codebook
     * (books[(r / gRows) · k · d …], k × d each) under {@link #assignNearest}'s weighted distance
     * with weights (float) (dw_t · s · s), in double (dw: D_t = 1/[H⁻¹]_tt of the block's columns);
     * its index goes to indices[r · (cols/d) + column/d]; then q_t = c_t · s, the error
     * e = (w − q) U_PP⁻¹ (forward substitution in double, into err's columns) and
     * w_l −= (float) Σ_t e_t · U_tl for the block's later columns l (the sum in double from 0).
     * ub is U[i1:i2, i1:i2] (width × width, row-major, double). The bits are those of
     * {@link GptvqBlock}, the CPU's code, on every backend; W's block columns are left unspecified.
     * The default (the CPU backend's) copies the block's columns out of W, runs the assignment
     * through this backend's {@link #assignNearest} and the rows in parallel, and writes the errors;
     * W itself is not written.
     */
    default void gptvqBlock(ResidentMatrix w, int i1, int i2, double[] ub, double[] dw, int d, float[] books, int k,
                            int gRows, float[] scales, int[] indices, ResidentMatrix err) {
        GptvqBlock.check(w.rows(), w.cols(), err.rows(), err.cols(), i1, i2, ub, dw, d, books, k, gRows, scales,
                indices);
        int rows = w.rows(), cols = w.cols(), width = i2 - i1;
        float[] block = new float[rows * width];
        float[] e = new float[rows * width];
        read(w, 0, i1, rows, width, block, 0, width);
        GptvqBlock.run(this::assignNearest, block, e, rows, cols, i1, i2, ub, dw, d, books, k, gRows, scales, indices);
        write(err, 0, 0, rows, width, e, 0, width);
    }

    /**
     * The device's FP32 peak in GFLOP/s (a fused multiply-add counted as 2), for the fraction of
     * peak that benchmarks report; NaN where the backend cannot say.
     */
    default double peakGflops() {
        return Double.NaN;
    }

    /** The device's memory-bandwidth peak in GB/s; NaN where the backend cannot say. */
    default double peakGBps() {
        return Double.NaN;
    }

    /**
     * The most device memory this backend's own buffers held at one time since the last
     * {@link #resetPeakDeviceBytes()} (packed uploads and each call's inputs and outputs);
     * −1 where there is no device. Memory a vendor library allocates inside its own calls
     * (CLBlast's temporaries) and the driver's own overhead are not counted.
     */
    default long peakDeviceBytes() {
        return -1;
    }

    /** Starts a new peak from what is held now. */
    default void resetPeakDeviceBytes() {
    }

    @Override
    default void close() {
    }
}
