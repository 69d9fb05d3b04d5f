package io.vq4j.kernels.device;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.HostMatrix;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.packed.PackedMatrix;

import java.util.HashSet;
import java.util.Set;
import java.util.function.Consumer;

/**
 * What {@code --device auto} returns when it finds a GPU: the GPU backend, except that a call the
 * device cannot run (out of device memory, an input that does not fit even in tiles, a failed
 * launch) runs on the CPU backend instead, with one line through {@code notice} the first time
 * each operation falls back. Results are the same either way: the GPU kernels compute the CPU
 * backend's bits. Packed weights that cannot be uploaded stay on the host and are multiplied
 * there; so do resident matrices (the quantizer's W, E and its activations), and an operation on
 * matrices of both kinds goes through host copies. The Gram, the factor and GPTQ's in-block step
 * go to the device as they are: the GPU backends already run the CPU's code for a matrix that
 * does not fit, and a launch that fails midway has written into its operands, so it is an error,
 * not a fallback (likewise a resident gemm with beta ≠ 0). The forward ops are not offered
 * ({@link #forwardOps} is null): a packed layer that fell back to the host could not join a device
 * forward, so evaluation under auto runs the host forward with the device's packed matmuls.
 */
public final class CpuFallback implements Backend {
    private final Backend gpu;
    private final CpuBackend cpu = new CpuBackend();
    private final Consumer<String> notice;
    private final Set<String> said = new HashSet<>();

    public CpuFallback(Backend gpu, Consumer<String> notice) {
        this.gpu = gpu;
        this.notice = notice;
    }

    /** The GPU backend behind the fallback. */
    public Backend device() {
        return gpu;
    }

    private void fellBack(String op, RuntimeException e) {
        synchronized (said) {
            if (said.add(op)) {
                notice.accept(e.getMessage() + "; --device auto runs " + op + " on the CPU instead");
            }
        }
    }

    @Override
    public String name() {
        return gpu.name();
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, float[] b, float beta,
                     float[] c) {
        float[] keep = beta == 0f ? null : c.clone(); // a failed call may have left C half-written
        try {
            gpu.gemm(transA, transB, m, n, k, alpha, a, b, beta, c);
        } catch (IllegalStateException e) {
            fellBack("gemm", e);
            if (keep != null) {
                System.arraycopy(keep, 0, c, 0, keep.length);
            }
            cpu.gemm(transA, transB, m, n, k, alpha, a, b, beta, c);
        }
    }

    @Override
    public void assignNearest(float[] vectors, float[] weights, int n, int d, float[] codebook, int k, int[] index,
                              float[] distance) {
        try {
            gpu.assignNearest(vectors, weights, n, d, codebook, k, index, distance);
        } catch (IllegalStateException e) {
            fellBack("assignNearest", e);
            cpu.assignNearest(vectors, weights, n, d, codebook, k, index, distance);
        }
    }

    @Override
    public void accumulateCentroids(float[] vectors, float[] weights, int n, int d, int[] index, int k, double[] sums,
                                    double[] weightSums) {
        try {
            gpu.accumulateCentroids(vectors, weights, n, d, index, k, sums, weightSums);
        } catch (IllegalStateException e) {
            fellBack("accumulateCentroids", e);
            cpu.accumulateCentroids(vectors, weights, n, d, index, k, sums, weightSums);
        }
    }

    @Override
    public PackedWeights upload(PackedMatrix matrix) {
        try {
            return gpu.upload(matrix);
        } catch (IllegalStateException e) {
            fellBack("packed uploads", e);
            return cpu.upload(matrix);
        }
    }

    @Override
    public void dequant(PackedWeights weights, float[] out) {
        if (cpu.owns(weights)) {
            cpu.dequant(weights, out);
            return;
        }
        try {
            gpu.dequant(weights, out);
        } catch (IllegalStateException e) {
            fellBack("dequant", e);
            cpu.dequant(cpu.upload(weights.matrix()), out);
        }
    }

    @Override
    public void dequantMatmul(PackedWeights weights, float[] x, int n, float[] y) {
        if (cpu.owns(weights)) {
            cpu.dequantMatmul(weights, x, n, y);
            return;
        }
        try {
            gpu.dequantMatmul(weights, x, n, y);
        } catch (IllegalStateException e) {
            fellBack("dequantMatmul", e);
            cpu.dequantMatmul(cpu.upload(weights.matrix()), x, n, y);
        }
    }

    /** Whether m is one of the fallback CPU backend's (a resident matrix the device could not take). */
    private boolean onHost(ResidentMatrix m) {
        return m instanceof HostMatrix h && h.ownedBy(cpu);
    }

    @Override
    public ResidentMatrix resident(float[] values, int rows, int cols) {
        try {
            return gpu.resident(values, rows, cols);
        } catch (IllegalStateException e) {
            fellBack("resident matrices", e);
            return cpu.resident(values, rows, cols);
        }
    }

    @Override
    public ResidentMatrix residentWeights(float[] values, int rows, int cols) {
        try {
            return gpu.residentWeights(values, rows, cols);
        } catch (IllegalStateException e) {
            fellBack("resident matrices", e);
            return cpu.residentWeights(values, rows, cols);
        }
    }

    @Override
    public void read(ResidentMatrix m, int row, int col, int rows, int cols, float[] dst, int offset, int ld) {
        (onHost(m) ? cpu : gpu).read(m, row, col, rows, cols, dst, offset, ld);
    }

    @Override
    public void write(ResidentMatrix m, int row, int col, int rows, int cols, float[] src, int offset, int ld) {
        (onHost(m) ? cpu : gpu).write(m, row, col, rows, cols, src, offset, ld);
    }

    @Override
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, ResidentMatrix a, int aRow,
                     int aCol, ResidentMatrix b, int bRow, int bCol, float beta, ResidentMatrix c, int cRow, int cCol) {
        if (onHost(a) && onHost(b) && onHost(c)) {
            cpu.gemm(transA, transB, m, n, k, alpha, a, aRow, aCol, b, bRow, bCol, beta, c, cRow, cCol);
            return;
        }
        if (!onHost(a) && !onHost(b) && !onHost(c)) {
            try {
                gpu.gemm(transA, transB, m, n, k, alpha, a, aRow, aCol, b, bRow, bCol, beta, c, cRow, cCol);
                return;
            } catch (IllegalStateException e) {
                if (beta != 0f) {
                    throw e; // C' may be half-updated on the device: no result could be trusted
                }
                fellBack("resident gemm", e);
            }
        }
        // host copies of the regions (read and write go to each matrix's owner), the array gemm
        Backend.super.gemm(transA, transB, m, n, k, alpha, a, aRow, aCol, b, bRow, bCol, beta, c, cRow, cCol);
    }

    @Override
    public boolean hostCpu() {
        return gpu.hostCpu();
    }

    @Override
    public void accumulateGram(float[] x, int rows, int dim, double[] h) {
        gpu.accumulateGram(x, rows, dim, h);
    }

    @Override
    public boolean inverseCholeskyUpper(double[] a, int n) {
        return gpu.inverseCholeskyUpper(a, n);
    }

    @Override
    public void gptqBlock(ResidentMatrix w, int i1, int i2, double[] ub, int bits, int groupSize, boolean symmetric,
                          int[] codes, float[] scales, int[] zeros, ResidentMatrix err) {
        if (onHost(w) && onHost(err)) {
            cpu.gptqBlock(w, i1, i2, ub, bits, groupSize, symmetric, codes, scales, zeros, err);
        } else if (!onHost(w) && !onHost(err)) {
            gpu.gptqBlock(w, i1, i2, ub, bits, groupSize, symmetric, codes, scales, zeros, err);
        } else { // host copies through read and write
            Backend.super.gptqBlock(w, i1, i2, ub, bits, groupSize, symmetric, codes, scales, zeros, err);
        }
    }

    @Override
    public void gptvqBlock(ResidentMatrix w, int i1, int i2, double[] ub, double[] dw, int d, float[] books, int k,
                           int gRows, float[] scales, int[] indices, ResidentMatrix err) {
        if (onHost(w) && onHost(err)) {
            cpu.gptvqBlock(w, i1, i2, ub, dw, d, books, k, gRows, scales, indices, err);
        } else if (!onHost(w) && !onHost(err)) {
            gpu.gptvqBlock(w, i1, i2, ub, dw, d, books, k, gRows, scales, indices, err);
        } else { // host copies through read and write
            Backend.super.gptvqBlock(w, i1, i2, ub, dw, d, books, k, gRows, scales, indices, err);
        }
    }

    @Override
    public double peakGflops() {
        return gpu.peakGflops();
    }

    @Override
    public double peakGBps() {
        return gpu.peakGBps();
    }

    @Override
    public long peakDeviceBytes() {
        return gpu.peakDeviceBytes();
    }

    @Override
    public void resetPeakDeviceBytes() {
        gpu.resetPeakDeviceBytes();
    }

    @Override
    public void close() {
        gpu.close();
    }
}
