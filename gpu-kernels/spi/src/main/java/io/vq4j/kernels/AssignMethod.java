package io.vq4j.kernels;

/**
 * How {@link Backend#assignNearest(AssignMethod, float[], float[], int, int, float[], int, int[], float[])}
 * finds the nearest centroid: EXACT, the fused distance kernel (the defined distance, the same bits
 * on every backend), or GEMM, the matmul form ({@link Backend#assignNearestGemm}: the same indices up
 * to near-ties). {@link #forShape} is the one rule, from the measurements in docs/BENCHMARKS.md
 * ("The matmul form of the assignment").
 */
public enum AssignMethod {
    EXACT,
    GEMM;

    /**
     * The faster method measured on {@code backend} ("cpu", "opencl"; anything else EXACT: not
     * measured) for n vectors of d against k centroids.
     */
    public static AssignMethod forShape(String backend, int n, int d, int k, boolean weighted) {
        // measured 2026-12-03 (docs/BENCHMARKS.md): on the CPU the matmul form took 0.38-0.53x the
        // exact kernel's CPU time at d = 16, k = 4096 and 65,536 (weighted too), and was level or
        // slower at d = 4 and 8 and at k = 256; on PoCL (CLBlast) it was 4-50x slower everywhere
        return backend.equals("cpu") && d >= 16 && k >= 4096 ? GEMM : EXACT;
    }
}
