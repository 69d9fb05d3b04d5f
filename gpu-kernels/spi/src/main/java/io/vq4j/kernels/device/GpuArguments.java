package io.vq4j.kernels.device;

import io.vq4j.kernels.packed.PackedMatrix;

/** The argument checks the GPU backends share (same messages on every device). */
public final class GpuArguments {
    private GpuArguments() {
    }

    public static void gemm(int m, int n, int k, float[] a, float[] b, float[] c) {
        if (a.length < (long) m * k || b.length < (long) k * n || c.length < (long) m * n) {
            throw new IllegalArgumentException("gemm sizes: array too small");
        }
    }

    public static void assignNearest(float[] vectors, float[] weights, int n, int d, float[] codebook, int k,
                                     int[] index, float[] distance) {
        if (k <= 0 || d <= 0 || d > 16 || vectors.length < (long) n * d || codebook.length < (long) k * d
                || index.length < n || distance.length < n || weights != null && weights.length < (long) n * d) {
            throw new IllegalArgumentException("assignNearest sizes: array too small, or d outside 1..16");
        }
    }

    public static void accumulateCentroids(float[] vectors, int n, int d, int[] index, int k, double[] sums,
                                           double[] weightSums) {
        long kd = (long) k * d;
        if (sums.length < kd || weightSums.length < kd || index.length < n || vectors.length < (long) n * d) {
            throw new IllegalArgumentException("accumulateCentroids sizes: array too small");
        }
        for (int i = 0; i < n; i++) {
            if (index[i] < 0 || index[i] >= k) {
                throw new IllegalArgumentException("index[" + i + "] = " + index[i] + " outside 0.." + (k - 1));
            }
        }
    }

    /** Checks that {@code out} holds the matrix, and returns its number of weights. */
    public static long dequant(PackedMatrix matrix, float[] out) {
        long count = (long) matrix.rows() * matrix.cols();
        if (out.length < count) {
            throw new IllegalArgumentException("dequant: output of " + out.length + " for " + count + " weights");
        }
        return count;
    }

    public static void dequantMatmul(PackedMatrix matrix, float[] x, int n, float[] y) {
        int rows = matrix.rows();
        int cols = matrix.cols();
        if (n < 0 || x.length < (long) n * cols || y.length < (long) n * rows) {
            throw new IllegalArgumentException("dequantMatmul: x of " + x.length + " and y of " + y.length
                    + " for n = " + n + " and " + rows + "x" + cols);
        }
    }
}
