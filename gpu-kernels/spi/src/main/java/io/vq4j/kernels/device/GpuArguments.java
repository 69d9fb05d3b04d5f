package io.vq4j.kernels.device;

/** The argument checks the GPU backends share (same messages on every device). */
public final class GpuArguments {
    private GpuArguments() {
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
}
