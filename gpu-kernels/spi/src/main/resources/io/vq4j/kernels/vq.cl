/*
 * vq4j kernels, one portable source. The backend prepends a prelude (io.vq4j.kernels.KernelSource)
 * that defines
 *   KERNEL, FUNC, GLOBAL, LOCAL, BARRIER(), GLOBAL_ID(0), LOCAL_ID(0), GROUP_ID(0), LOCAL_SIZE(0),
 *   LOAD_HALF(p) (the IEEE half at the even byte address p, as a float), uchar
 * (OpenCL: __kernel, inline, __global, __local, barrier(CLK_LOCAL_MEM_FENCE), get_global_id...;
 *  CUDA: extern "C" __global__, __device__ inline, nothing, __shared__, __syncthreads(),
 *  blockIdx/threadIdx...) and TILE (centroids per local-memory tile) and HAS_DOUBLE.
 *
 * It also defines FORCE_INLINE, LPTR (the qualifier of a pointer to local memory) and a short
 * vector type of VL lanes: vfloat, vint, VSPLAT, VISPLAT, VLOAD, VSTORE, VLESS, VSELECT, VFMA, VEXP
 * (OpenCL: float8/int8 and its built-ins; CUDA: a struct of VL floats with its operators), so
 * that one work-item holds several vectors (assignment), several rows (matmul) or several
 * positions' scores (attention) in registers.
 *
 * Floating-point contraction is off (OpenCL: the pragma below; CUDA: NVRTC's -fmad=false), so
 * a*b + c is two roundings unless the source asks for fma(); every backend, the CPU's included,
 * computes the same operations in the same order, so every backend computes the same bits.
 * The assignment distance is defined with fused multiply-adds (see assign_block); the packed
 * decode and the exact matmul are not fused, as PackedReference.
 */
#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
#endif

#define MAX_D 16
/* D is a constant in every assignment kernel: its loops unroll, x and w stay in registers */
#define UNROLL _Pragma("unroll")

/*
 * For every vector i < n (n x D), the centroid (of k, k x D) at the least distance
 *   acc = 0; for j = 0 .. D-1: diff = c_j - x_ij; acc = fma(diff, diff, acc)
 *   (weighted: acc = fma(w_ij * diff, diff, acc)),
 * the definition of the CPU backend too; ties go to the lowest index (strict <, centroids in
 * order). D is a compile-time constant (one kernel per D, below), so x and w sit in registers.
 * Work-item lid of group g holds VL vectors, first + l * LOCAL_SIZE for lanes l (first =
 * g * LOCAL_SIZE * VL + lid), as the lanes of vfloat: each centroid value read from local
 * memory feeds VL distances. The codebook streams through local memory TILE centroids at a
 * time; the running minimum and its index stay in registers.
 */
FORCE_INLINE void assign_block(const GLOBAL float* x, const GLOBAL float* w, const int weighted, const int n,
                               const GLOBAL float* cb, const int k, GLOBAL int* index, GLOBAL float* dist,
                               LPTR float* tile, const int D) {
    const int lid = LOCAL_ID(0);
    const int lsz = LOCAL_SIZE(0);
    const int first = GROUP_ID(0) * lsz * VL + lid;
    vfloat xv[MAX_D];
    vfloat wv[MAX_D];
    float tmp[VL];
    UNROLL
    for (int j = 0; j < D; j++) {
        for (int l = 0; l < VL; l++) {
            const int i = first + l * lsz;
            tmp[l] = i < n ? x[(long) i * D + j] : 0.0f;
        }
        xv[j] = VLOAD(tmp);
        for (int l = 0; l < VL; l++) {
            const int i = first + l * lsz;
            tmp[l] = (i < n && weighted) ? w[(long) i * D + j] : 1.0f;
        }
        wv[j] = VLOAD(tmp);
    }
    vfloat best = VSPLAT(INFINITY);
    vint bestIndex = VISPLAT(0);
    for (int c0 = 0; c0 < k; c0 += TILE) {
        const int tk = min(TILE, k - c0);
        BARRIER();
        for (int e = lid; e < tk * D; e += lsz) {
            tile[e] = cb[(long) c0 * D + e];
        }
        BARRIER();
        if (weighted) {
            for (int t = 0; t < tk; t++) {
                vfloat acc = VSPLAT(0.0f);
                UNROLL
                for (int j = 0; j < D; j++) {
                    const vfloat diff = VSPLAT(tile[t * D + j]) - xv[j];
                    acc = VFMA(wv[j] * diff, diff, acc);
                }
                const vint less = VLESS(acc, best);
                best = VSELECT(best, acc, less);
                bestIndex = VSELECT(bestIndex, VISPLAT(c0 + t), less);
            }
        } else {
            for (int t = 0; t < tk; t++) {
                vfloat acc = VSPLAT(0.0f);
                UNROLL
                for (int j = 0; j < D; j++) {
                    const vfloat diff = VSPLAT(tile[t * D + j]) - xv[j];
                    acc = VFMA(diff, diff, acc);
                }
                const vint less = VLESS(acc, best);
                best = VSELECT(best, acc, less);
                bestIndex = VSELECT(bestIndex, VISPLAT(c0 + t), less);
            }
        }
    }
    float bd[VL];
    int bi[VL];
    VSTORE(best, bd);
    VSTORE(bestIndex, bi);
    for (int l = 0; l < VL; l++) {
        const int i = first + l * lsz;
        if (i < n) {
            index[i] = bi[l];
            dist[i] = bd[l];
        }
    }
}

/* One assignment kernel per dimension D = 1 .. MAX_D; d is the call's, equal to D. */
#define ASSIGN_KERNEL(D) \
KERNEL void assign_nearest_##D(const GLOBAL float* x, const GLOBAL float* w, const int weighted, const int n, \
                               const int d, const GLOBAL float* cb, const int k, GLOBAL int* index, \
                               GLOBAL float* dist) { \
    LOCAL float tile[TILE * D]; \
    assign_block(x, w, weighted, n, cb, k, index, dist, tile, D); \
}
ASSIGN_KERNEL(1)
ASSIGN_KERNEL(2)
ASSIGN_KERNEL(3)
ASSIGN_KERNEL(4)
ASSIGN_KERNEL(5)
ASSIGN_KERNEL(6)
ASSIGN_KERNEL(7)
ASSIGN_KERNEL(8)
ASSIGN_KERNEL(9)
ASSIGN_KERNEL(10)
ASSIGN_KERNEL(11)
ASSIGN_KERNEL(12)
ASSIGN_KERNEL(13)
ASSIGN_KERNEL(14)
ASSIGN_KERNEL(15)
ASSIGN_KERNEL(16)

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

/*
 * The tile of the batched matmul: W'[row0 + rr, c0 + c] into wt[c * MM_ROWS + rr] for
 * rr < MM_ROWS, c < cc (rows past the matrix as 0). When the chunk of columns lies in one vector
 * segment (the common layouts: GPTVQ, k-means and VPTQ without outliers, and most chunks with
 * them) it is decoded a sub-vector at a time: its group, index position and each stage's index
 * are read once for its d weights (a work-item per sub-vector of the tile; sub-vectors cut by the
 * tile's edges decode their part). Otherwise weight by weight with packed_weight. Each weight is
 * the same float operations in the same order as packed_weight (the stages summed from 0.0f, then
 * the block scale, then the norm): the same bits. (A loop over the segments of the chunk was
 * measured 1.3-1.5x slower on PoCL, scalar chunks included: the one-segment test is kept.)
 *
 * The codebooks in local memory (AQLM, VPTQ and FLUTE keep them in shared memory): when the
 * chunk's sub-vectors all belong to one codebook group and that group's codebooks, every stage's,
 * take at most MM_CB_FLOATS floats (the prelude's KernelSource.MATMUL_CODEBOOK_FLOATS), they are
 * copied into lcb, stage after stage, and the decode gathers from there. The copy is made only
 * when the group (or the segment) differs from the one already there: a tile of rows usually
 * stays in one group for many chunks (a codebook per tensor: the whole row). `loaded` names what
 * lcb holds (segment << 32 | group, -1 for nothing); the call returns what it holds afterwards.
 * Groups that do not fit (k = 4096 at d = 4 is 16,384 floats) and chunks that straddle groups
 * gather from global memory as before. The values are the same floats either way: the same bits.
 */
#define PK_STAGES 4
/* the batched matmul's tile (see packed_matmul) */
#define MM_ROWS (MM_RG * VL)
#define MM_TOKS ((MM_GROUP / MM_RG) * MM_TM)
#define MM_COLS 32

FUNC long packed_tile(const GLOBAL int* seg, const int nseg, const GLOBAL int* st, const GLOBAL uchar* by,
                      const GLOBAL float* fl, const GLOBAL int* in, const int rows, const int ns, const int nb,
                      const int row0, const int c0, const int cc, LPTR float* wt, LPTR float* lcb,
                      const long loaded) {
    const int lid = LOCAL_ID(0);
    int s = 0;
    while (s + 1 < nseg && c0 >= seg[s * SEG_FIELDS + SEG_TO]) {
        s++;
    }
    const GLOBAL int* o = seg + s * SEG_FIELDS;
    const int kind = o[SEG_KIND];
    const int sf = o[SEG_FROM];
    if ((kind != SEG_VECTOR_IN && kind != SEG_VECTOR_OUT) || c0 + cc > o[SEG_TO] || o[SEG_STAGE_COUNT] > PK_STAGES) {
        /* weight by weight */
        for (int e = lid; e < MM_ROWS * cc; e += MM_GROUP) {
            const int rr = e / cc;
            const int c = e - rr * cc;
            const int r = row0 + rr;
            wt[c * MM_ROWS + rr] = r < rows ? packed_weight(seg, nseg, st, by, fl, in, rows, ns, nb, r, c0 + c) : 0.0f;
        }
        return loaded;
    }
    const int live = min(MM_ROWS, rows - row0);
    for (int e = lid; e < (MM_ROWS - live) * cc; e += MM_GROUP) {
        const int rr = live + e / cc;
        wt[(e % cc) * MM_ROWS + rr] = 0.0f;
    }
    const int from = c0 - sf;
    const int to = c0 + cc - sf;
    const int width = o[SEG_TO] - sf;
    const int nstage = o[SEG_STAGE_COUNT];
    const int d = o[SEG_DIM];
    const int gc = o[SEG_GROUP_COLS];
    const int gcols = (width + gc - 1) / gc;
    const int gr = o[SEG_GROUP_ROWS];
    const int bc = o[SEG_BLOCK_COLS];
    const int bcols = bc > 0 ? (width + bc - 1) / bc : 0;
    const int alongIn = kind == SEG_VECTOR_IN;
    /* units: (row, sub-vector of columns) for VECTOR_IN, (column, sub-vector of rows) for VECTOR_OUT */
    const int a0 = alongIn ? from / d : from;
    const int aCount = (alongIn ? (to + d - 1) / d : to) - a0;
    const int b0 = alongIn ? 0 : row0 / d;
    const int bCount = (alongIn ? live : (row0 + live + d - 1) / d) - b0;
    /* the groups of the first and the last sub-vector: equal only when every sub-vector is in that group */
    const int gFirst = alongIn ? (row0 / gr) * gcols + (a0 * d) / gc : ((b0 * d) / gr) * gcols + a0 / gc;
    const int gLast = alongIn ? ((row0 + live - 1) / gr) * gcols + ((a0 + aCount - 1) * d) / gc
                              : (((b0 + bCount - 1) * d) / gr) * gcols + (a0 + aCount - 1) / gc;
    int need = 0;
    for (int t = 0; t < nstage; t++) {
        need += st[(o[SEG_FIRST_STAGE] + t) * STAGE_FIELDS + STAGE_K] * d;
    }
    const int inLocal = gFirst == gLast && need <= MM_CB_FLOATS;
    const long key = ((long) s << 32) | (long) gFirst;
    if (inLocal && key != loaded) {
        /* every work-item is past the barrier that ended the last chunk's decode: lcb is free */
        int at = 0;
        for (int t = 0; t < nstage; t++) {
            const GLOBAL int* so = st + (o[SEG_FIRST_STAGE] + t) * STAGE_FIELDS;
            const int kd = so[STAGE_K] * d;
            const GLOBAL float* src = fl + so[STAGE_CODEBOOKS] + (long) gFirst * kd;
            for (int e = lid; e < kd; e += MM_GROUP) {
                lcb[at + e] = src[e];
            }
            at += kd;
        }
        BARRIER();
    }
    for (int e = lid; e < aCount * bCount; e += MM_GROUP) {
        const int bq = e / aCount;
        const int b = b0 + bq;
        const int a = a0 + (e - bq * aCount);
        long i;
        int g;
        int lo;
        int hi;
        if (alongIn) {
            i = (long) (row0 + b) * (width / d) + a;
            g = ((row0 + b) / gr) * gcols + (a * d) / gc;
            lo = max(a * d, from) - a * d;
            hi = min(a * d + d, to) - a * d;
        } else {
            i = (long) a * (rows / d) + b;
            g = ((b * d) / gr) * gcols + a / gc;
            lo = max(b * d, row0) - b * d;
            hi = min(b * d + d, row0 + live) - b * d;
        }
        /* each stage's centroid: an offset into lcb (local) or into fl */
        int cb[PK_STAGES];
        int at = 0;
        for (int t = 0; t < nstage; t++) {
            const GLOBAL int* so = st + (o[SEG_FIRST_STAGE] + t) * STAGE_FIELDS;
            const int idx = packed_bits(by, so[STAGE_INDICES], i, so[STAGE_INDEX_BITS]);
            cb[t] = inLocal ? at + idx * d : so[STAGE_CODEBOOKS] + (g * so[STAGE_K] + idx) * d;
            at += so[STAGE_K] * d;
        }
        for (int j = lo; j < hi; j++) {
            const int r = alongIn ? row0 + b : b * d + j;
            const int c = alongIn ? a * d + j : a;
            float sum = 0.0f;
            for (int t = 0; t < nstage; t++) {
                sum = sum + (inLocal ? lcb[cb[t] + j] : fl[cb[t] + j]);
            }
            if (bc > 0) {
                const int code = packed_bits(by, o[SEG_BLOCK_CODES], (long) r * bcols + c / bc, o[SEG_BLOCK_BITS]);
                sum = sum * fl[o[SEG_BLOCK_TABLE] + code];
            }
            if (ns >= 0) {
                const float scaled = sum * fl[ns + sf + c];
                sum = scaled + fl[nb + sf + c];
            }
            wt[(sf + c - c0) * MM_ROWS + (r - row0)] = sum;
        }
    }
    return inLocal ? key : loaded;
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
 * The packed matmul kernels: work-groups of MM_GROUP work-items; MM_GROUP, MM_RG and MM_TM come
 * from the prelude (KernelSource.MATMUL_GROUP and its neighbours).
 * Batched (packed_matmul): a work-group computes a tile of MM_ROWS output rows x MM_TOKS input
 * rows; work-item lid owns VL consecutive rows (row group lid % MM_RG, the lanes of a vfloat)
 * of MM_TM input rows (token group lid / MM_RG). The columns go by in chunks of MM_COLS: the
 * work-group decodes the tile's weights of the chunk once into local memory (its codebooks from
 * local memory too where they fit: packed_tile; stored transposed,
 * so a work-item's VL rows at one column are one vector load) and stages the chunk of its input
 * rows there (the permutation applied), then every work-item adds w * x for its outputs, column
 * by column. Each output is thus summed over the stored column positions in order,
 * acc = acc + W'[r, c] * x[perm[c]], no fused multiply-add: PackedReference.matmul's bits.
 */

KERNEL void packed_matmul(const GLOBAL int* seg, const int nseg, const GLOBAL int* st, const GLOBAL uchar* by,
                          const GLOBAL float* fl, const GLOBAL int* in, const int rows, const int cols,
                          const int perm, const int ns, const int nb, const GLOBAL float* x, const int n,
                          GLOBAL float* y) {
    LOCAL float wt[MM_COLS * MM_ROWS];
    LOCAL float xt[MM_TOKS * MM_COLS];
    LOCAL float lcb[MM_CB_FLOATS];
    const int lid = LOCAL_ID(0);
    const int rowTiles = (rows + MM_ROWS - 1) / MM_ROWS;
    const int row0 = (GROUP_ID(0) % rowTiles) * MM_ROWS;
    const int tok0 = (GROUP_ID(0) / rowTiles) * MM_TOKS;
    const int rg = lid % MM_RG;
    const int tg = lid / MM_RG;
    vfloat acc[MM_TM];
    for (int m = 0; m < MM_TM; m++) {
        acc[m] = VSPLAT(0.0f);
    }
    long loaded = -1;
    for (int c0 = 0; c0 < cols; c0 += MM_COLS) {
        const int cc = min(MM_COLS, cols - c0);
        BARRIER();
        loaded = packed_tile(seg, nseg, st, by, fl, in, rows, ns, nb, row0, c0, cc, wt, lcb, loaded);
        for (int e = lid; e < MM_TOKS * cc; e += MM_GROUP) {
            const int tt = e / cc;
            const int c = e - tt * cc;
            const int t = tok0 + tt;
            xt[tt * MM_COLS + c] = t < n ? x[(long) t * cols + (perm >= 0 ? in[perm + c0 + c] : c0 + c)] : 0.0f;
        }
        BARRIER();
        for (int c = 0; c < cc; c++) {
            const vfloat wv = VLOAD(wt + c * MM_ROWS + rg * VL);
            for (int m = 0; m < MM_TM; m++) {
                const vfloat p = wv * VSPLAT(xt[(tg * MM_TM + m) * MM_COLS + c]);
                acc[m] = acc[m] + p;
            }
        }
    }
    float out[VL];
    for (int m = 0; m < MM_TM; m++) {
        const int t = tok0 + tg * MM_TM + m;
        VSTORE(acc[m], out);
        for (int l = 0; l < VL; l++) {
            const int r = row0 + rg * VL + l;
            if (t < n && r < rows) {
                y[(long) t * rows + r] = out[l];
            }
        }
    }
}

/*
 * Y = X W^T for few input rows (the matrix-vector products of generation): a work-group per
 * output row; segment by segment (packed_row_part), each work-item sums w * x over its share of
 * the segment's columns in order, then the MM_GROUP partial sums are added in a fixed tree in
 * local memory. Same bits on every run, but not PackedReference's order: the two differ by
 * rounding only, within 2 * cols * 2^-24 * sum_c |W'[r, c] x[perm[c]]| (each side's sum is within
 * cols * 2^-24 of that sum of magnitudes from the exact one; the bound GpuParityTest and
 * PackedKernelsTest check). The weights themselves are PackedReference's bits.
 */
#define MV_RUN 8

/* codes [i0, i0 + count) of a bit stream (count <= MV_RUN) into out: each byte of the run read once,
 * in order (packed_bits reads three bytes per code) */
FUNC void packed_run(const GLOBAL uchar* b, const int at, const long i0, const int width, const int count,
                     int* out) {
    const long bit = i0 * width;
    long p = at + (bit >> 3);
    const int shift = (int) (bit & 7);
    unsigned int buf = (unsigned int) b[p] >> shift;
    int have = 8 - shift;
    p++;
    const unsigned int mask = (1u << width) - 1u;
    for (int q = 0; q < count; q++) {
        while (have < width) {
            buf |= (unsigned int) b[p] << have;
            p++;
            have += 8;
        }
        out[q] = (int) (buf & mask);
        buf >>= width;
        have -= width;
    }
}

/* acc + W'[r, c] * x[perm[c]] for the stored column c and its weight w before the norm */
FUNC float packed_mac(const float acc, float w, const GLOBAL float* fl, const GLOBAL int* in, const int perm,
                      const int ns, const int nb, const int c, const GLOBAL float* xt) {
    if (ns >= 0) {
        const float scaled = w * fl[ns + c];
        w = scaled + fl[nb + c];
    }
    const float p = w * xt[perm >= 0 ? in[perm + c] : c];
    return acc + p;
}

/*
 * This work-item's share of segment s in row r, added to acc. Scalar segments: runs of MV_RUN
 * consecutive columns (lid's runs lid, lid + MM_GROUP, ...), their codes read as one bit stream.
 * Vector segments along the input: runs of MV_RUN consecutive sub-vectors, each stage's indices
 * read as one stream, each index once for its d weights. Along the output: the row's weight of
 * each column, one index per stage (the row's sub-vector position and group row computed once).
 * Dense segments and more than PK_STAGES stages: weight by weight (packed_weight).
 * A vector segment whose row lies in one codebook group (one group of columns: a codebook per
 * tensor or per block of rows) gathers from local memory when that group's codebooks, every
 * stage's, fit in MM_CB_FLOATS floats and are no more floats than the row has weights in the
 * segment (so the copy costs no more loads than the gathers it replaces); lcb is free again
 * after the closing barrier.
 */
FUNC float packed_row_part(const GLOBAL int* seg, const int nseg, const GLOBAL int* st, const GLOBAL uchar* by,
                           const GLOBAL float* fl, const GLOBAL int* in, const int rows, const int perm, const int ns,
                           const int nb, const int s, const int r, const GLOBAL float* xt, float acc,
                           LPTR float* lcb) {
    const int lid = LOCAL_ID(0);
    const GLOBAL int* o = seg + s * SEG_FIELDS;
    const int kind = o[SEG_KIND];
    const int sf = o[SEG_FROM];
    const int width = o[SEG_TO] - sf;
    if (kind == SEG_SCALAR) {
        const int gs = o[SEG_GROUP_SIZE];
        const int groups = (width + gs - 1) / gs;
        int code[MV_RUN];
        for (int u0 = lid * MV_RUN; u0 < width; u0 += MM_GROUP * MV_RUN) {
            const int count = min(MV_RUN, width - u0);
            packed_run(by, o[SEG_CODES], (long) r * width + u0, o[SEG_BITS], count, code);
            for (int q = 0; q < count; q++) {
                const int g = r * groups + (u0 + q) / gs;
                const float w = fl[o[SEG_SCALES] + g] * (float) (code[q] - in[o[SEG_ZEROS] + g]);
                acc = packed_mac(acc, w, fl, in, perm, ns, nb, sf + u0 + q, xt);
            }
        }
        return acc;
    }
    if ((kind != SEG_VECTOR_IN && kind != SEG_VECTOR_OUT) || o[SEG_STAGE_COUNT] > PK_STAGES) {
        for (int cc = lid; cc < width; cc += MM_GROUP) {
            const float w = packed_weight(seg, nseg, st, by, fl, in, rows, ns, nb, r, sf + cc);
            const float p = w * xt[perm >= 0 ? in[perm + sf + cc] : sf + cc];
            acc = acc + p;
        }
        return acc;
    }
    const int nstage = o[SEG_STAGE_COUNT];
    const GLOBAL int* so = st + o[SEG_FIRST_STAGE] * STAGE_FIELDS;
    const int d = o[SEG_DIM];
    const int gc = o[SEG_GROUP_COLS];
    const int gcols = (width + gc - 1) / gc;
    const int gr = o[SEG_GROUP_ROWS];
    const int bc = o[SEG_BLOCK_COLS];
    const int bcols = bc > 0 ? (width + bc - 1) / bc : 0;
    /* the row's group when it has one (rows of sub-vectors along the output: the group of its sub-vector) */
    const int gOnly = ((kind == SEG_VECTOR_IN ? r : r - r % d) / gr) * gcols;
    int at[PK_STAGES];
    int need = 0;
    for (int t = 0; t < nstage; t++) {
        at[t] = need;
        need += so[t * STAGE_FIELDS + STAGE_K] * d;
    }
    const int inLocal = gcols == 1 && need <= MM_CB_FLOATS && need <= width;
    if (inLocal) {
        for (int t = 0; t < nstage; t++) {
            const int kd = so[t * STAGE_FIELDS + STAGE_K] * d;
            const GLOBAL float* src = fl + so[t * STAGE_FIELDS + STAGE_CODEBOOKS] + (long) gOnly * kd;
            for (int e = lid; e < kd; e += MM_GROUP) {
                lcb[at[t] + e] = src[e];
            }
        }
        BARRIER();
    }
    if (kind == SEG_VECTOR_IN) {
        const int nsub = width / d;
        const int grow = (r / gr) * gcols;
        int idx[PK_STAGES][MV_RUN];
        for (int u0 = lid * MV_RUN; u0 < nsub; u0 += MM_GROUP * MV_RUN) {
            const int count = min(MV_RUN, nsub - u0);
            for (int t = 0; t < nstage; t++) {
                packed_run(by, so[t * STAGE_FIELDS + STAGE_INDICES], (long) r * nsub + u0,
                           so[t * STAGE_FIELDS + STAGE_INDEX_BITS], count, idx[t]);
            }
            for (int q = 0; q < count; q++) {
                const int c0 = (u0 + q) * d;
                const int g = grow + c0 / gc;
                for (int j = 0; j < d; j++) {
                    float sum = 0.0f;
                    for (int t = 0; t < nstage; t++) {
                        const GLOBAL int* sk = so + t * STAGE_FIELDS;
                        sum = sum + (inLocal ? lcb[at[t] + idx[t][q] * d + j]
                                             : fl[sk[STAGE_CODEBOOKS] + ((g * sk[STAGE_K] + idx[t][q]) * d + j)]);
                    }
                    if (bc > 0) {
                        const int code = packed_bits(by, o[SEG_BLOCK_CODES], (long) r * bcols + (c0 + j) / bc,
                                                     o[SEG_BLOCK_BITS]);
                        sum = sum * fl[o[SEG_BLOCK_TABLE] + code];
                    }
                    acc = packed_mac(acc, sum, fl, in, perm, ns, nb, sf + c0 + j, xt);
                }
            }
        }
        if (inLocal) {
            BARRIER();
        }
        return acc;
    }
    const int j = r % d;
    const int rd = r / d;
    const int grow = ((r - j) / gr) * gcols;
    for (int cc = lid; cc < width; cc += MM_GROUP) {
        const long i = (long) cc * (rows / d) + rd;
        const int g = grow + cc / gc;
        float sum = 0.0f;
        for (int t = 0; t < nstage; t++) {
            const GLOBAL int* sk = so + t * STAGE_FIELDS;
            const int id = packed_bits(by, sk[STAGE_INDICES], i, sk[STAGE_INDEX_BITS]);
            sum = sum + (inLocal ? lcb[at[t] + id * d + j] : fl[sk[STAGE_CODEBOOKS] + ((g * sk[STAGE_K] + id) * d + j)]);
        }
        if (bc > 0) {
            const int code = packed_bits(by, o[SEG_BLOCK_CODES], (long) r * bcols + cc / bc, o[SEG_BLOCK_BITS]);
            sum = sum * fl[o[SEG_BLOCK_TABLE] + code];
        }
        acc = packed_mac(acc, sum, fl, in, perm, ns, nb, sf + cc, xt);
    }
    if (inLocal) {
        BARRIER();
    }
    return acc;
}

KERNEL void packed_matvec(const GLOBAL int* seg, const int nseg, const GLOBAL int* st, const GLOBAL uchar* by,
                          const GLOBAL float* fl, const GLOBAL int* in, const int rows, const int cols,
                          const int perm, const int ns, const int nb, const GLOBAL float* x, const int n,
                          GLOBAL float* y) {
    LOCAL float part[MM_GROUP];
    LOCAL float lcb[MM_CB_FLOATS];
    const int lid = LOCAL_ID(0);
    const int r = GROUP_ID(0);
    for (int t = 0; t < n; t++) {
        const GLOBAL float* xt = x + (long) t * cols;
        float acc = 0.0f;
        for (int s = 0; s < nseg; s++) {
            acc = packed_row_part(seg, nseg, st, by, fl, in, rows, perm, ns, nb, s, r, xt, acc, lcb);
        }
        part[lid] = acc;
        BARRIER();
        for (int h = MM_GROUP / 2; h > 0; h >>= 1) {
            if (lid < h) {
                part[lid] = part[lid] + part[lid + h];
            }
            BARRIER();
        }
        if (lid == 0) {
            y[(long) t * rows + r] = part[0];
        }
        BARRIER();
    }
}

/* ---- the decoder forward on resident activations (issue 17; io.vq4j.kernels.ForwardOps) --------
 * Element-wise kernels run one work-item per element; the row kernels (rmsnorm, attention, nll)
 * a work-group of FW_GROUP work-items per row, each summing the elements lid, lid + FW_GROUP, ...
 * in order, then a fixed tree in local memory: the same bits on every run. The bounds against
 * the CPU reference are on ForwardOps' methods; ForwardOpsParityTest (OpenCL) checks them. */
#define FW_GROUP 64
#define FW_MAX_HD 256
#define FW_CHUNK 16

/* tree sum (or max) of part[0..FW_GROUP) into part[0]; every work-item of the group calls it */
FUNC void fw_tree_sum(LPTR float* part, const int lid) {
    for (int h = FW_GROUP / 2; h > 0; h >>= 1) {
        BARRIER();
        if (lid < h) {
            part[lid] = part[lid] + part[lid + h];
        }
    }
    BARRIER();
}

FUNC void fw_tree_max(LPTR float* part, const int lid) {
    for (int h = FW_GROUP / 2; h > 0; h >>= 1) {
        BARRIER();
        if (lid < h) {
            part[lid] = fmax(part[lid], part[lid + h]);
        }
    }
    BARRIER();
}

KERNEL void fw_embed(const GLOBAL float* table, const GLOBAL int* ids, const int dim, const int n, GLOBAL float* out) {
    const long i = GLOBAL_ID(0);
    if (i < (long) n * dim) {
        const int t = (int) (i / dim);
        out[i] = table[(long) ids[t] * dim + (i - (long) t * dim)];
    }
}

KERNEL void fw_rmsnorm(const GLOBAL float* x, const int xRow, const GLOBAL float* g, const float eps, const int dim,
                       GLOBAL float* out, const int outRow) {
    LOCAL float part[FW_GROUP];
    const int lid = LOCAL_ID(0);
    const GLOBAL float* xr = x + (long) (xRow + GROUP_ID(0)) * dim;
    GLOBAL float* o = out + (long) (outRow + GROUP_ID(0)) * dim;
    float ss = 0.0f;
    for (int k = lid; k < dim; k += FW_GROUP) {
        const float v = xr[k];
        ss = ss + v * v;
    }
    part[lid] = ss;
    fw_tree_sum(part, lid);
    const float inv = 1.0f / sqrt(part[0] / (float) dim + eps);
    for (int k = lid; k < dim; k += FW_GROUP) {
        o[k] = xr[k] * inv * g[k];
    }
}

KERNEL void fw_rope(GLOBAL float* a, const int rows, const int heads, const int hd, const GLOBAL float* table,
                    const int tableRow, const int interleaved) {
    const int hf = hd / 2;
    const long i = GLOBAL_ID(0);
    if (i >= (long) rows * heads * hf) {
        return;
    }
    const int p = (int) (i % hf);
    const int th = (int) (i / hf);
    const int t = th / heads;
    const long base = (long) th * hd;
    const float c = table[(long) (tableRow + t) * hd + p];
    const float s = table[(long) (tableRow + t) * hd + hf + p];
    const long i0 = interleaved ? base + 2 * p : base + p;
    const long i1 = interleaved ? i0 + 1 : i0 + hf;
    const float x0 = a[i0];
    const float x1 = a[i1];
    a[i0] = x0 * c - x1 * s;
    a[i1] = x1 * c + x0 * s;
}

/* one work-group per (query t, head h): pass 1 the row maximum of the scaled scores, pass 2
 * e_j = exp(s_j - max), their sum and sum_j e_j v_j in registers (scores recomputed, the same
 * bits), then trees over the work-items; out = (sum e v) * (1 / sum e). No score matrix. */
KERNEL void fw_attention(const GLOBAL float* q, const GLOBAL float* keys, const GLOBAL float* values,
                         GLOBAL float* out, const int start, const int heads, const int kvHeads, const int hd,
                         const float scale) {
    LOCAL float part[FW_GROUP * FW_CHUNK];
    const int lid = LOCAL_ID(0);
    const int t = GROUP_ID(0) / heads;
    const int h = GROUP_ID(0) - t * heads;
    const int kvDim = kvHeads * hd;
    const int kv = (h / (heads / kvHeads)) * hd;
    const int visible = start + t + 1;
    const GLOBAL float* qh = q + (long) t * heads * hd + (long) h * hd;
    float m = -INFINITY;
    for (int j = lid; j < visible; j += FW_GROUP) {
        const GLOBAL float* kj = keys + (long) j * kvDim + kv;
        float s = 0.0f;
        for (int i = 0; i < hd; i++) {
            s = s + qh[i] * kj[i];
        }
        m = fmax(m, s * scale);
    }
    part[lid] = m;
    fw_tree_max(part, lid);
    const float mx = part[0];
    BARRIER();
    float o[FW_MAX_HD];
    for (int i = 0; i < hd; i++) {
        o[i] = 0.0f;
    }
    float sum = 0.0f;
    for (int j = lid; j < visible; j += FW_GROUP) {
        const GLOBAL float* kj = keys + (long) j * kvDim + kv;
        const GLOBAL float* vj = values + (long) j * kvDim + kv;
        float s = 0.0f;
        for (int i = 0; i < hd; i++) {
            s = s + qh[i] * kj[i];
        }
        const float e = exp(s * scale - mx);
        sum = sum + e;
        for (int i = 0; i < hd; i++) {
            o[i] = o[i] + e * vj[i];
        }
    }
    part[lid] = sum;
    fw_tree_sum(part, lid);
    const float inv = 1.0f / part[0];
    BARRIER();
    GLOBAL float* oh = out + (long) t * heads * hd + (long) h * hd;
    for (int c0 = 0; c0 < hd; c0 += FW_CHUNK) {
        const int cc = min(FW_CHUNK, hd - c0);
        for (int c = 0; c < cc; c++) {
            part[c * FW_GROUP + lid] = o[c0 + c];
        }
        for (int w = FW_GROUP / 2; w > 0; w >>= 1) {
            BARRIER();
            if (lid < w) {
                for (int c = 0; c < cc; c++) {
                    part[c * FW_GROUP + lid] = part[c * FW_GROUP + lid] + part[c * FW_GROUP + lid + w];
                }
            }
        }
        BARRIER();
        if (lid < cc) {
            oh[c0 + lid] = part[lid * FW_GROUP] * inv;
        }
        BARRIER();
    }
}

/*
 * Attention tiled over queries (flash-attention style, Dao et al. 2022, Alg. 1): a work-group of
 * FA_QUERIES work-items (the prelude's: KernelSource.ATTENTION_QUERIES) per (query head h, block
 * of FA_QUERIES consecutive queries), work-item lid owning query q0 + lid. The keys and values of
 * the positions the block sees stream through local memory a tile of tk positions at a time
 * (tk = FA_KEYS, fewer for heads wider than FA_KV_FLOATS / FA_KEYS), loaded once for the block;
 * each work-item keeps its query, its output row, the running maximum m and the running sum l in
 * registers (online softmax, Milakov & Gimelshein 2018): per tile the
 * scaled scores s_j of the positions it may see (causal: j <= start + t), m' = max(m, max s_j),
 * alpha = exp(m - m'), l = l alpha + sum_j exp(s_j - m'), o = o alpha + sum_j exp(s_j - m') v_j,
 * positions in order; out = o * (1 / l). Two barriers per tile and no score matrix. The order is
 * fixed (the same bits on every run); against the reference the extra roundings are one rescale
 * per tile, inside ForwardOps.attention's bound. On a CPU device (PoCL) the work-items of a group
 * are one loop, so the barriers between tiles are the only splits; see ClForwardOps for the shape.
 */
#define FA_KEYS 64
#define FA_KV_FLOATS 2048

/* the block's geometry, the same in both variants below */
#define FA_SETUP(hd) \
    const int lid = LOCAL_ID(0); \
    const int blocks = (rows + FA_QUERIES - 1) / FA_QUERIES; \
    const int h = GROUP_ID(0) / blocks; \
    const int q0 = (GROUP_ID(0) - h * blocks) * FA_QUERIES; \
    const int t = q0 + lid; \
    const int kvDim = kvHeads * (hd); \
    const int kv = (h / (heads / kvHeads)) * (hd); \
    const int tk = min(FA_KEYS, FA_KV_FLOATS / (hd) / VL * VL); \
    const int visible = t < rows ? start + t + 1 : 0; \
    const int seen = start + min(rows, q0 + FA_QUERIES); \
    const GLOBAL float* qh = q + (long) t * heads * (hd) + (long) h * (hd); \
    GLOBAL float* oh = out + (long) t * heads * (hd) + (long) h * (hd)

/* positions [j0, j0 + n) into local memory: keys transposed (kt[i * tk + j], so VL positions'
 * component i are one vector load), values as stored (vt[j * hd + i]) */
FORCE_INLINE void attention_load(const GLOBAL float* keys, const GLOBAL float* values, LPTR float* kt,
                                 LPTR float* vt, const int j0, const int n, const int tk, const int kvDim,
                                 const int kv, const int hd) {
    for (int e = LOCAL_ID(0); e < n * hd; e += FA_QUERIES) {
        const int jj = e / hd;
        const int i = e - jj * hd;
        const long at = (long) (j0 + jj) * kvDim + kv + i;
        kt[i * tk + jj] = keys[at];
        vt[e] = values[at];
    }
}

/* Any head width: scalar loops. */
FORCE_INLINE void attention_tiled(const GLOBAL float* q, const GLOBAL float* keys, const GLOBAL float* values,
                                  GLOBAL float* out, const int rows, const int start, const int heads,
                                  const int kvHeads, LPTR float* kt, LPTR float* vt, const int hd,
                                  const float scale) {
    FA_SETUP(hd);
    float qv[FW_MAX_HD];
    float o[FW_MAX_HD];
    for (int i = 0; i < hd; i++) {
        qv[i] = t < rows ? qh[i] : 0.0f;
        o[i] = 0.0f;
    }
    float m = -INFINITY;
    float l = 0.0f;
    for (int j0 = 0; j0 < seen; j0 += tk) {
        const int n = min(tk, seen - j0);
        BARRIER();
        attention_load(keys, values, kt, vt, j0, n, tk, kvDim, kv, hd);
        BARRIER();
        const int nv = min(n, visible - j0);
        if (nv > 0) {
            float s[FA_KEYS];
            float mt = m;
            for (int jj = 0; jj < nv; jj++) {
                float dot = 0.0f;
                for (int i = 0; i < hd; i++) {
                    dot = dot + qv[i] * kt[i * tk + jj];
                }
                s[jj] = dot * scale;
                mt = fmax(mt, s[jj]);
            }
            const float alpha = exp(m - mt);
            l = l * alpha;
            for (int i = 0; i < hd; i++) {
                o[i] = o[i] * alpha;
            }
            for (int jj = 0; jj < nv; jj++) {
                const float e = exp(s[jj] - mt);
                l = l + e;
                for (int i = 0; i < hd; i++) {
                    o[i] = o[i] + e * vt[jj * hd + i];
                }
            }
            m = mt;
        }
    }
    if (t < rows) {
        const float inv = 1.0f / l;
        for (int i = 0; i < hd; i++) {
            oh[i] = o[i] * inv;
        }
    }
}

/* HD a multiple of VL (a compile-time constant): the same operations in the same order per
 * element, in vectors: VL positions' scores (and their exps) at a time, the output row as HD / VL
 * vectors in registers. */
FORCE_INLINE void attention_tiled_v(const GLOBAL float* q, const GLOBAL float* keys, const GLOBAL float* values,
                                    GLOBAL float* out, const int rows, const int start, const int heads,
                                    const int kvHeads, LPTR float* kt, LPTR float* vt, const int HD,
                                    const float scale) {
    FA_SETUP(HD);
    float qv[FW_MAX_HD];
    vfloat o[FW_MAX_HD / VL];
    UNROLL
    for (int i = 0; i < HD; i++) {
        qv[i] = t < rows ? qh[i] : 0.0f;
    }
    UNROLL
    for (int c = 0; c < HD / VL; c++) {
        o[c] = VSPLAT(0.0f);
    }
    float m = -INFINITY;
    float l = 0.0f;
    for (int j0 = 0; j0 < seen; j0 += tk) {
        const int n = min(tk, seen - j0);
        BARRIER();
        attention_load(keys, values, kt, vt, j0, n, tk, kvDim, kv, HD);
        BARRIER();
        const int nv = min(n, visible - j0);
        if (nv > 0) {
            float s[FA_KEYS];
            for (int g = 0; g < nv; g += VL) {
                vfloat dot = VSPLAT(0.0f);
                UNROLL
                for (int i = 0; i < HD; i++) {
                    dot = dot + VSPLAT(qv[i]) * VLOAD(kt + i * tk + g);
                }
                VSTORE(dot * VSPLAT(scale), s + g);
            }
            float mt = m;
            for (int jj = 0; jj < nv; jj++) {
                mt = fmax(mt, s[jj]);
            }
            for (int g = 0; g < nv; g += VL) {
                VSTORE(VEXP(VLOAD(s + g) - VSPLAT(mt)), s + g);
            }
            const float alpha = exp(m - mt);
            l = l * alpha;
            UNROLL
            for (int c = 0; c < HD / VL; c++) {
                o[c] = o[c] * VSPLAT(alpha);
            }
            for (int jj = 0; jj < nv; jj++) {
                l = l + s[jj];
                UNROLL
                for (int c = 0; c < HD / VL; c++) {
                    o[c] = o[c] + VSPLAT(s[jj]) * VLOAD(vt + jj * HD + c * VL);
                }
            }
            m = mt;
        }
    }
    if (t < rows) {
        const vfloat inv = VSPLAT(1.0f / l);
        UNROLL
        for (int c = 0; c < HD / VL; c++) {
            VSTORE(o[c] * inv, oh + c * VL);
        }
    }
}

/* The tiled attention for any head width up to FW_MAX_HD, and one kernel per common width HD
 * (hd is the call's, equal to HD), vectorised. */
KERNEL void fw_attention_tiled(const GLOBAL float* q, const GLOBAL float* keys, const GLOBAL float* values,
                               GLOBAL float* out, const int rows, const int start, const int heads,
                               const int kvHeads, const int hd, const float scale) {
    LOCAL float kt[FA_KV_FLOATS];
    LOCAL float vt[FA_KV_FLOATS];
    attention_tiled(q, keys, values, out, rows, start, heads, kvHeads, kt, vt, hd, scale);
}

#define ATTENTION_KERNEL(HD) \
KERNEL void fw_attention_tiled_##HD(const GLOBAL float* q, const GLOBAL float* keys, const GLOBAL float* values, \
                                    GLOBAL float* out, const int rows, const int start, const int heads, \
                                    const int kvHeads, const int hd, const float scale) { \
    LOCAL float kt[FA_KV_FLOATS]; \
    LOCAL float vt[FA_KV_FLOATS]; \
    attention_tiled_v(q, keys, values, out, rows, start, heads, kvHeads, kt, vt, HD, scale); \
}
ATTENTION_KERNEL(8)
ATTENTION_KERNEL(16)
ATTENTION_KERNEL(32)
ATTENTION_KERNEL(64)
ATTENTION_KERNEL(128)

KERNEL void fw_silu_mul(GLOBAL float* gate, const GLOBAL float* up, const int n) {
    const int i = GLOBAL_ID(0);
    if (i < n) {
        const float g = gate[i];
        gate[i] = g / (1.0f + exp(-g)) * up[i];
    }
}

KERNEL void fw_add(GLOBAL float* x, const GLOBAL float* d, const int n) {
    const int i = GLOBAL_ID(0);
    if (i < n) {
        x[i] = x[i] + d[i];
    }
}

KERNEL void fw_add_bias(GLOBAL float* y, const GLOBAL float* b, const int cols, const int n) {
    const int i = GLOBAL_ID(0);
    if (i < n) {
        y[i] = y[i] + b[i % cols];
    }
}

KERNEL void fw_nll(const GLOBAL float* logits, const int vocab, const GLOBAL int* targets, GLOBAL float* nll) {
    LOCAL float part[FW_GROUP];
    const int lid = LOCAL_ID(0);
    const GLOBAL float* l = logits + (long) GROUP_ID(0) * vocab;
    float m = -INFINITY;
    for (int k = lid; k < vocab; k += FW_GROUP) {
        m = fmax(m, l[k]);
    }
    part[lid] = m;
    fw_tree_max(part, lid);
    const float mx = part[0];
    BARRIER();
    float s = 0.0f;
    for (int k = lid; k < vocab; k += FW_GROUP) {
        s = s + exp(l[k] - mx);
    }
    part[lid] = s;
    fw_tree_sum(part, lid);
    if (lid == 0) {
        nll[GROUP_ID(0)] = (log(part[0]) + mx) - l[targets[GROUP_ID(0)]];
    }
}

/* dst[i] = src[i], i < n: copyRows on CUDA, whose host passes pointers already offset (OpenCL copies buffers) */
KERNEL void fw_copy(const GLOBAL float* src, GLOBAL float* dst, const int n) {
    const int i = GLOBAL_ID(0);
    if (i < n) {
        dst[i] = src[i];
    }
}

/* RMSNorm with one work-item per row, summing in order with no barrier: for CPU devices (PoCL),
 * where a work-group's barriers cost more than a short row's arithmetic. The same formula as
 * fw_rmsnorm. (A work-item per (query, head) attention was measured 4x slower than fw_attention on
 * PoCL and is not kept.) */
KERNEL void fw_rmsnorm_rows(const GLOBAL float* x, const int xRow, const GLOBAL float* g, const float eps,
                            const int dim, GLOBAL float* out, const int outRow, const int rows) {
    const int r = GLOBAL_ID(0);
    if (r >= rows) {
        return;
    }
    const GLOBAL float* xr = x + (long) (xRow + r) * dim;
    GLOBAL float* o = out + (long) (outRow + r) * dim;
    float ss = 0.0f;
    for (int k = 0; k < dim; k++) {
        ss = ss + xr[k] * xr[k];
    }
    const float inv = 1.0f / sqrt(ss / (float) dim + eps);
    for (int k = 0; k < dim; k++) {
        o[k] = xr[k] * inv * g[k];
    }
}
