/*
 * linalg.cl's product for an OpenCL device whose compute units are CPU cores (PoCL): appended to
 * linalg.cl in the OpenCL program only (LinalgKernels.opencl(); the CUDA source keeps the tiled
 * la_product). The tiled kernel's work-groups share their operand tiles through local memory and
 * barriers, which a CPU runtime serialises work-item by work-item; here one work-item computes
 * DP_R rows × DP_W columns of C with vector sums, as sgemm.cl does for floats, and no work-item
 * waits for another.
 *
 * B is first packed (dp_pack_*) into panels of DP_W columns, p[(panel·kq + q)·DP_W + lane] =
 * (double) B(q, panel·DP_W + lane) (zeros past nj). Each element's own operations are la_product's,
 * in its order (so the results are the CPU's bits): the old element (or 0.0 for the SET modes),
 * then for each chunk of kc steps of q from 0 a sum from 0.0 by fma in ascending q, added to
 * (subtracted from) the element; with triA a work-item stops at its last row's q, where la_product
 * stops at its tile's (the terms between are exact zeros). Rows past mi read row mi − 1 and are
 * never stored; with lower only j ≤ i is stored. Where A's 8 rows lie side by side (ais = 1, as in
 * the Gram, A = Xᵀ) their elements at q are one vector load instead of 8 strided ones.
 */
#define DP_W 8
#define DP_R 8
typedef double8 dpvec;

#define DP_PACK(NAME, TB)                                                                                \
__kernel void NAME(const __global TB* b, const long bo, const int bqs, const int bjs, const int kq,       \
                   const int nj, __global double* p) {                                                   \
    const int q = (int) get_global_id(0);                                                                \
    const int panel = (int) get_global_id(1);                                                            \
    if (q >= kq) {                                                                                       \
        return;                                                                                          \
    }                                                                                                    \
    __global double* dst = p + ((long) panel * kq + q) * DP_W;                                           \
    for (int l = 0; l < DP_W; l++) {                                                                     \
        const int j = panel * DP_W + l;                                                                  \
        dst[l] = j < nj ? (double) b[bo + (long) q * bqs + (long) j * bjs] : 0.0;                        \
    }                                                                                                    \
}

DP_PACK(dp_pack_d, double)
DP_PACK(dp_pack_f, float)

#define DP_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define DP_DECLARE(i) dpvec v##i = dp_load(c, co, ldc, r0 + i, j0, mi, nj, keep);
#define DP_ZERO(i) dpvec s##i = (dpvec) 0.0;
#define DP_FMA(i) s##i = fma((dpvec) ((double) ap[i][o]), bv, s##i);
#define DP_FMAV(i) s##i = fma((dpvec) av.s##i, bv, s##i);
#define DP_FLUSH(i) v##i = add ? v##i + s##i : v##i - s##i;
#define DP_STORE(i) dp_store(c, co, ldc, r0 + i, j0, mi, nj, lower, v##i);

/* Row i, columns [j0, j0 + DP_W) ∩ [0, nj) of C, or zeros (keep = 0, or a row past mi). */
dpvec dp_load(const __global double* c, const long co, const int ldc, const int i, const int j0,
                     const int mi, const int nj, const int keep) {
    if (!keep || i >= mi) {
        return (dpvec) 0.0;
    }
    const __global double* src = c + co + (long) i * ldc + j0;
    if (j0 + DP_W <= nj) {
        return vload8(0, src);
    }
    double t[DP_W];
    for (int l = 0; l < DP_W; l++) {
        t[l] = j0 + l < nj ? src[l] : 0.0;
    }
    return vload8(0, t);
}

void dp_store(__global double* c, const long co, const int ldc, const int i, const int j0, const int mi,
                     const int nj, const int lower, const dpvec v) {
    if (i >= mi) {
        return;
    }
    __global double* dst = c + co + (long) i * ldc + j0;
    if (j0 + DP_W <= nj && (!lower || j0 + DP_W - 1 <= i)) {
        vstore8(v, 0, dst);
        return;
    }
    double t[DP_W];
    vstore8(v, 0, t);
    for (int l = 0; l < DP_W && j0 + l < nj; l++) {
        if (!lower || j0 + l <= i) {
            dst[l] = t[l];
        }
    }
}

#define DP_PRODUCT(NAME, TA, LOADA)                                                                      \
__kernel void NAME(const __global TA* a, const long ao, const int ais, const int aqs,                    \
                   const __global double* p, __global double* c, const long co, const int ldc,           \
                   const int mi, const int nj, const int kq, const int kc, const int mode, const int lower, \
                   const int triA) {                                                                     \
    const int panel = (int) get_global_id(0);                                                            \
    const int r0 = (int) get_global_id(1) * DP_R;                                                        \
    const int j0 = panel * DP_W;                                                                         \
    if (r0 >= mi || j0 >= nj || (lower && j0 > r0 + DP_R - 1)) {                                         \
        return;                                                                                          \
    }                                                                                                    \
    const int add = mode == MODE_ADD || mode == MODE_SET_ADD;                                            \
    const int keep = mode < MODE_SET_ADD;                                                                \
    const __global TA* ap[DP_R];                                                                         \
    for (int i = 0; i < DP_R; i++) {                                                                     \
        ap[i] = a + ao + (long) min(r0 + i, mi - 1) * ais;                                               \
    }                                                                                                    \
    DP_ROWS(DP_DECLARE)                                                                                  \
    const int qEnd = triA ? min(kq, r0 + DP_R) : kq;                                                     \
    const int adjacent = ais == 1 && r0 + DP_R <= mi; /* the 8 rows' elements at q side by side */       \
    const __global double* bp = p + (long) panel * kq * DP_W;                                            \
    for (int q0 = 0; q0 < qEnd;) {                                                                       \
        const int qe = qEnd - q0 > kc ? q0 + kc : qEnd;                                                  \
        DP_ROWS(DP_ZERO)                                                                                 \
        if (adjacent) {                                                                                  \
            for (int q = q0; q < qe; q++) {                                                              \
                const dpvec bv = vload8(0, bp + (long) q * DP_W);                                        \
                const dpvec av = LOADA(a + ao + r0 + (long) q * aqs);                                    \
                DP_ROWS(DP_FMAV)                                                                         \
            }                                                                                            \
        } else {                                                                                         \
            for (int q = q0; q < qe; q++) {                                                              \
                const dpvec bv = vload8(0, bp + (long) q * DP_W);                                        \
                const long o = (long) q * aqs;                                                           \
                DP_ROWS(DP_FMA)                                                                          \
            }                                                                                            \
        }                                                                                                \
        DP_ROWS(DP_FLUSH)                                                                                \
        q0 = qe;                                                                                         \
    }                                                                                                    \
    DP_ROWS(DP_STORE)                                                                                    \
}

#define DP_LOAD_D(p) vload8(0, p)
#define DP_LOAD_F(p) convert_double8(vload8(0, p))
DP_PRODUCT(dp_product_d, double, DP_LOAD_D)
DP_PRODUCT(dp_product_f, float, DP_LOAD_F)
