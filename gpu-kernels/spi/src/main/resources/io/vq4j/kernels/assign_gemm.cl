/*
 * The matmul form of the assignment (Backend#assignNearestGemm, io.vq4j.kernels.assign.GemmAssign),
 * compiled after vq.cl with its prelude. The backend's gemm (CLBlast, cuBLAS) has written a tile of
 * scores s, kt centroids x nt vectors row-major (s[t * nt + i] = ||c||^2 - 2 x.c of centroid c0 + t
 * and vector i; weighted sum w c^2 - 2 sum (w x) c), so work-item i reads a column: neighbouring
 * work-items read neighbouring floats. Each keeps its vector's running least over the tiles, in
 * centroid order with strict <, so ties go to the lowest index and the result is that of one scan
 * from centroid 0; between tiles it waits in best / best_index (the first tile, c0 = 0, starts
 * from +inf at centroid 0).
 */
KERNEL void assign_gemm_argmin(const GLOBAL float* s, const int kt, const int nt, const int c0,
                               GLOBAL float* best, GLOBAL int* best_index) {
    const int i = GLOBAL_ID(0);
    if (i >= nt) {
        return;
    }
    float b = c0 == 0 ? INFINITY : best[i];
    int bi = c0 == 0 ? 0 : best_index[i];
    for (int t = 0; t < kt; t++) {
        const float v = s[(long) t * nt + i];
        if (v < b) {
            b = v;
            bi = c0 + t;
        }
    }
    best[i] = b;
    best_index[i] = bi;
}
