/*
 * vq4j kernels, one portable source. The backend prepends a prelude that defines
 *   KERNEL, GLOBAL, LOCAL, BARRIER(), GLOBAL_ID(0), LOCAL_ID(0), GROUP_ID(0), LOCAL_SIZE(0)
 * (OpenCL: __kernel, __global, __local, barrier(CLK_LOCAL_MEM_FENCE), get_global_id...;
 *  CUDA: extern "C" __global__, nothing, __shared__, __syncthreads(), blockIdx/threadIdx...)
 * and TILE (centroids per local-memory tile) and HAS_DOUBLE.
 *
 * Floating-point contraction is off so that a*b + c is two roundings, as on the CPU
 * backend; distances are summed over dimensions in index order, exactly as the CPU does,
 * so both backends compute the same bits.
 */
#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
#endif

#define MAX_D 16

/*
 * For every vector i < n (n x d), the centroid (of k, k x d) at the least distance
 * sum_j w_ij (c_j - x_ij)^2 (w = 1 when weighted == 0); ties go to the lowest index.
 * One work-item per vector; the codebook streams through local memory TILE centroids at a time.
 */
KERNEL void assign_nearest(const GLOBAL float* x, const GLOBAL float* w, const int weighted, const int n,
                           const int d, const GLOBAL float* cb, const int k, GLOBAL int* index,
                           GLOBAL float* dist) {
    LOCAL float tile[TILE * MAX_D];
    const int i = GLOBAL_ID(0);
    const int lid = LOCAL_ID(0);
    const int lsz = LOCAL_SIZE(0);
    float xv[MAX_D];
    float wv[MAX_D];
    for (int j = 0; j < d; j++) {
        xv[j] = i < n ? x[(long) i * d + j] : 0.0f;
        wv[j] = (i < n && weighted) ? w[(long) i * d + j] : 1.0f;
    }
    int best = 0;
    float bestDist = INFINITY;
    for (int c0 = 0; c0 < k; c0 += TILE) {
        const int tk = min(TILE, k - c0);
        BARRIER();
        for (int e = lid; e < tk * d; e += lsz) {
            tile[e] = cb[(long) c0 * d + e];
        }
        BARRIER();
        if (i < n) {
            for (int t = 0; t < tk; t++) {
                float acc = 0.0f;
                if (weighted) {
                    for (int j = 0; j < d; j++) {
                        const float diff = tile[t * d + j] - xv[j];
                        const float sq = diff * diff;
                        acc = fma(sq, wv[j], acc);
                    }
                } else {
                    for (int j = 0; j < d; j++) {
                        const float diff = tile[t * d + j] - xv[j];
                        const float sq = diff * diff;
                        acc = acc + sq;
                    }
                }
                if (acc < bestDist) {
                    bestDist = acc;
                    best = c0 + t;
                }
            }
        }
    }
    if (i < n) {
        index[i] = best;
        dist[i] = bestDist;
    }
}

#ifdef HAS_DOUBLE
/*
 * M-step, pass 1. Work-group g sums the vectors of chunk g ([g*chunk, min(n, (g+1)*chunk)))
 * in vector order into its own partial arrays (k x d doubles each, zeroed by the caller);
 * work-item t owns the centroids c with c % LOCAL_SIZE == t, so every element has one writer
 * and the order of additions is fixed.
 */
KERNEL void accumulate_partials(const GLOBAL float* x, const GLOBAL float* w, const int weighted, const int n,
                                const int d, const GLOBAL int* index, const int k, const int chunk,
                                GLOBAL double* psum, GLOBAL double* pw) {
    const int g = GROUP_ID(0);
    const int t = LOCAL_ID(0);
    const int lsz = LOCAL_SIZE(0);
    const long base = (long) g * k * d;
    const int end = min(n, (g + 1) * chunk);
    for (int i = g * chunk; i < end; i++) {
        const int c = index[i];
        if (c % lsz == t) {
            for (int j = 0; j < d; j++) {
                const double wt = weighted ? (double) w[(long) i * d + j] : 1.0;
                psum[base + (long) c * d + j] += wt * (double) x[(long) i * d + j];
                pw[base + (long) c * d + j] += wt;
            }
        }
    }
}

/* M-step, pass 2: element e summed over the partials in chunk order. */
KERNEL void reduce_partials(const GLOBAL double* psum, const GLOBAL double* pw, const int parts, const int kd,
                            GLOBAL double* sums, GLOBAL double* wsums) {
    const int e = GLOBAL_ID(0);
    if (e >= kd) {
        return;
    }
    double s = 0.0;
    double sw = 0.0;
    for (int p = 0; p < parts; p++) {
        s += psum[(long) p * kd + e];
        sw += pw[(long) p * kd + e];
    }
    sums[e] = s;
    wsums[e] = sw;
}
#endif
