/*
 * vq4j kernels, one portable source. The backend prepends a prelude (io.vq4j.kernels.KernelSource)
 * that defines
 *   KERNEL, FUNC, GLOBAL, LOCAL, BARRIER(), GLOBAL_ID(0), LOCAL_ID(0), GROUP_ID(0), LOCAL_SIZE(0),
 *   LOAD_HALF(p) (the IEEE half at the even byte address p, as a float), uchar
 * (OpenCL: __kernel, inline, __global, __local, barrier(CLK_LOCAL_MEM_FENCE), get_global_id...;
 *  CUDA: extern "C" __global__, __device__ inline, nothing, __shared__, __syncthreads(),
 *  blockIdx/threadIdx...) and TILE (centroids per local-memory tile) and HAS_DOUBLE.
 *
 * Floating-point contraction is off (OpenCL: the pragma below; CUDA: NVRTC's -fmad=false) so
 * that a*b + c is two roundings, as on the CPU backend; distances are summed over dimensions
 * in index order, exactly as the CPU does, so every backend computes the same bits.
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
 * in vector order into its own partial arrays, number part0 + g (k x d doubles each, zeroed by
 * the caller); work-item t owns the centroids c with c % LOCAL_SIZE == t, so every element has
 * one writer and the order of additions is fixed. A call covers the n vectors of one tile;
 * part0 is the tile's first partial.
 */
KERNEL void accumulate_partials(const GLOBAL float* x, const GLOBAL float* w, const int weighted, const int n,
                                const int d, const GLOBAL int* index, const int k, const int chunk,
                                const int part0, GLOBAL double* psum, GLOBAL double* pw) {
    const int g = GROUP_ID(0);
    const int t = LOCAL_ID(0);
    const int lsz = LOCAL_SIZE(0);
    const long base = (long) (part0 + g) * k * d;
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

/*
 * Packed weights (io.vq4j.kernels.packed.PackedMatrix): a segment table (SEG_FIELDS ints per
 * column segment), a stage table (STAGE_FIELDS ints per codebook stage), bit-packed codes and
 * indices, floats (scales, codebooks, block-scale tables, norm) and ints (zero points, perm).
 * A weight is decoded with the float operations of the CPU reference, in the same order.
 * The field offsets (SEG_*, STAGE_*) and segment kinds are defined by the prelude, generated
 * from io.vq4j.kernels.packed.PackedLayout.
 */

FUNC int packed_bits(const GLOBAL uchar* b, const int at, const long i, const int width) {
    const long bit = i * width;
    const long p = at + (bit >> 3);
    const int word = (int) b[p] | ((int) b[p + 1] << 8) | ((int) b[p + 2] << 16);
    return (word >> (int) (bit & 7)) & ((1 << width) - 1);
}

/* W'[r, c]: the weight at row r and stored column position c, norm applied. */
FUNC float packed_weight(const GLOBAL int* seg, const int nseg, const GLOBAL int* st, const GLOBAL uchar* by,
                           const GLOBAL float* fl, const GLOBAL int* in, const int rows, const int ns, const int nb,
                           const int r, const int c) {
    int s = 0;
    while (s + 1 < nseg && c >= seg[s * SEG_FIELDS + SEG_TO]) {
        s++;
    }
    const GLOBAL int* o = seg + s * SEG_FIELDS;
    const int kind = o[SEG_KIND];
    const int cc = c - o[SEG_FROM];
    const int width = o[SEG_TO] - o[SEG_FROM];
    float w;
    if (kind == SEG_SCALAR) {
        const int gs = o[SEG_GROUP_SIZE];
        const int g = r * ((width + gs - 1) / gs) + cc / gs;
        const int code = packed_bits(by, o[SEG_CODES], (long) r * width + cc, o[SEG_BITS]);
        w = fl[o[SEG_SCALES] + g] * (float) (code - in[o[SEG_ZEROS] + g]);
    } else if (kind == SEG_DENSE) {
        const long i = (long) r * width + cc;
        w = o[SEG_DENSE_BITS] == 32 ? fl[o[SEG_VALUES] + i] : LOAD_HALF(by + o[SEG_VALUES] + 2 * i);
    } else {
        const int d = o[SEG_DIM];
        long i;
        int j;
        int r0;
        int c0;
        if (kind == SEG_VECTOR_IN) {
            j = cc % d;
            i = (long) r * (width / d) + cc / d;
            r0 = r;
            c0 = cc - j;
        } else {
            j = r % d;
            i = (long) cc * (rows / d) + r / d;
            r0 = r - j;
            c0 = cc;
        }
        const int gc = o[SEG_GROUP_COLS];
        const int g = (r0 / o[SEG_GROUP_ROWS]) * ((width + gc - 1) / gc) + c0 / gc;
        float sum = 0.0f;
        for (int t = o[SEG_FIRST_STAGE]; t < o[SEG_FIRST_STAGE] + o[SEG_STAGE_COUNT]; t++) {
            const GLOBAL int* so = st + t * STAGE_FIELDS;
            const int idx = packed_bits(by, so[STAGE_INDICES], i, so[STAGE_INDEX_BITS]);
            sum = sum + fl[so[STAGE_CODEBOOKS] + ((g * so[STAGE_K] + idx) * d + j)];
        }
        const int bc = o[SEG_BLOCK_COLS];
        if (bc > 0) {
            const int code = packed_bits(by, o[SEG_BLOCK_CODES], (long) r * ((width + bc - 1) / bc) + cc / bc,
                                         o[SEG_BLOCK_BITS]);
            sum = sum * fl[o[SEG_BLOCK_TABLE] + code];
        }
        w = sum;
    }
    if (ns >= 0) {
        const float scaled = w * fl[ns + c];
        w = scaled + fl[nb + c];
    }
    return w;
}

/* W (rows x cols, original column order): one work-item per weight. */
KERNEL void packed_dequant(const GLOBAL int* seg, const int nseg, const GLOBAL int* st, const GLOBAL uchar* by,
                           const GLOBAL float* fl, const GLOBAL int* in, const int rows, const int cols,
                           const int perm, const int ns, const int nb, GLOBAL float* out) {
    const long e = GLOBAL_ID(0);
    if (e >= (long) rows * cols) {
        return;
    }
    const int r = (int) (e / cols);
    const int c = (int) (e % cols);
    const float w = packed_weight(seg, nseg, st, by, fl, in, rows, ns, nb, r, c);
    out[(long) r * cols + (perm >= 0 ? in[perm + c] : c)] = w;
}

/*
 * Y = X W^T for n input rows (x: n x cols, y: n x rows): one work-item per output (t, r),
 * summing over the stored column positions in order, as the CPU reference.
 */
KERNEL void packed_matmul(const GLOBAL int* seg, const int nseg, const GLOBAL int* st, const GLOBAL uchar* by,
                          const GLOBAL float* fl, const GLOBAL int* in, const int rows, const int cols,
                          const int perm, const int ns, const int nb, const GLOBAL float* x, const int n,
                          GLOBAL float* y) {
    const long e = GLOBAL_ID(0);
    if (e >= (long) n * rows) {
        return;
    }
    const int t = (int) (e / rows);
    const int r = (int) (e % rows);
    const GLOBAL float* xt = x + (long) t * cols;
    float acc = 0.0f;
    for (int c = 0; c < cols; c++) {
        const float w = packed_weight(seg, nseg, st, by, fl, in, rows, ns, nb, r, c);
        const float p = w * xt[perm >= 0 ? in[perm + c] : c];
        acc = acc + p;
    }
    y[e] = acc;
}
