/*
 * The double-precision linear algebra of the error-feedback methods on a device: the Gram
 * H += XᵀX and the factor U with UᵀU = H⁻¹ (io.vq4j.kernels.linalg.LinalgKernels drives them).
 * One portable source; LinalgKernels prepends a prelude that defines KERNEL, GLOBAL, LOCAL,
 * BARRIER(), LX, LY (the work-item in its 16×16 or 1-D group), GX, GY (the group) and the
 * blocking constants NB (panel width) of the CPU code it follows.
 *
 * Every element is computed with the operations of the CPU code (InverseCholesky, Gram,
 * DoubleKernel) in the same order, so the results are the CPU's bits: products of packed
 * operands are fused multiply-adds from 0.0 in ascending inner index, chunk sums added to
 * the target one chunk after another; the unblocked diagonal steps are plain multiplies and
 * subtractions (contraction off: OpenCL's pragma, NVRTC's -fmad=false). Work-items only
 * change which element is computed where, never an element's own sequence of operations.
 */
#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#define TS 16

/* What a product does with its sum s and the old element c. */
#define MODE_ADD 0      /* c + s (per chunk)        */
#define MODE_SUB 1      /* c - s (per chunk)        */
#define MODE_SET_ADD 2  /* 0.0 + s (per chunk)      */
#define MODE_SET_SUB 3  /* 0.0 - s (per chunk)      */

/*
 * C(i, j) op= Σ_q A(i, q)·B(q, j) for i < mi, j < nj (j ≤ i only, when lower), with
 * A(i, q) = a[ao + i·ais + q·aqs], B(q, j) = b[bo + q·bqs + j·bjs], C(i, j) = c[co + i·ldc + j].
 * The sum over q < kq runs in chunks of kc: each chunk sums from 0.0 by fma in ascending q and
 * is then added to (subtracted from) the element, chunk by chunk (DoubleKernel.product called
 * per chunk). triA: A(i, q) = 0 for q > i, so a group stops at its last row (the terms it
 * skips are exact zeros: fma(0, b, s) = s). One TS×TS group per BT×BT tile of C (BT = RB·TS),
 * each work-item holding RB×RB elements of it, rows ly + TS·r and columns lx + TS·c; the operand
 * tiles pass through local memory, TS steps of q at a time. Floats are widened to double, exactly.
 */
#define RB 4
#define BT (RB * TS)
#define PRODUCT(NAME, TA)                                                                                 \
KERNEL void NAME(const GLOBAL TA* a, const long ao, const int ais, const int aqs,                          \
                 const GLOBAL TA* b, const long bo, const int bqs, const int bjs,                          \
                 GLOBAL double* c, const long co, const int ldc,                                           \
                 const int mi, const int nj, const int kq, const int kc, const int mode, const int lower,  \
                 const int triA) {                                                                         \
    LOCAL double as[BT][TS + 1];                                                                          \
    LOCAL double bs[TS][BT + 1];                                                                          \
    const int lx = LX, ly = LY;                                                                           \
    const int j0 = GX * BT, i0 = GY * BT;                                                                 \
    if (lower && j0 > i0 + BT - 1) {                                                                      \
        return; /* the whole tile is above the diagonal: the group leaves together */                     \
    }                                                                                                     \
    const int add = mode == MODE_ADD || mode == MODE_SET_ADD;                                             \
    double v[RB][RB];                                                                                     \
    double s[RB][RB];                                                                                     \
    for (int r = 0; r < RB; r++) {                                                                        \
        for (int e = 0; e < RB; e++) {                                                                    \
            const int i = i0 + ly + TS * r, j = j0 + lx + TS * e;                                         \
            v[r][e] = mode < MODE_SET_ADD && i < mi && j < nj && (!lower || j <= i)                       \
                    ? c[co + (long) i * ldc + j] : 0.0;                                                   \
            s[r][e] = 0.0;                                                                                \
        }                                                                                                 \
    }                                                                                                     \
    const int qEnd = triA ? min(kq, i0 + BT) : kq;                                                        \
    int inChunk = 0;                                                                                      \
    for (int q0 = 0; q0 < qEnd; q0 += TS) {                                                               \
        for (int r = 0; r < RB; r++) {                                                                    \
            const int ar = i0 + ly + TS * r, aq = q0 + lx;                                                \
            as[ly + TS * r][lx] = ar < mi && aq < qEnd ? (double) a[ao + (long) ar * ais + (long) aq * aqs] : 0.0; \
            const int bq = q0 + ly, bj = j0 + lx + TS * r;                                                \
            bs[ly][lx + TS * r] = bq < qEnd && bj < nj ? (double) b[bo + (long) bq * bqs + (long) bj * bjs] : 0.0; \
        }                                                                                                 \
        BARRIER();                                                                                        \
        const int tEnd = min(TS, qEnd - q0);                                                              \
        for (int t = 0; t < tEnd; t++) {                                                                  \
            double av[RB], bv[RB];                                                                        \
            for (int r = 0; r < RB; r++) {                                                                \
                av[r] = as[ly + TS * r][t];                                                               \
                bv[r] = bs[t][lx + TS * r];                                                               \
            }                                                                                             \
            for (int r = 0; r < RB; r++) {                                                                \
                for (int e = 0; e < RB; e++) {                                                            \
                    s[r][e] = fma(av[r], bv[e], s[r][e]);                                                 \
                }                                                                                         \
            }                                                                                             \
            if (++inChunk == kc || q0 + t + 1 == qEnd) {                                                  \
                for (int r = 0; r < RB; r++) {                                                            \
                    for (int e = 0; e < RB; e++) {                                                        \
                        v[r][e] = add ? v[r][e] + s[r][e] : v[r][e] - s[r][e];                            \
                        s[r][e] = 0.0;                                                                    \
                    }                                                                                     \
                }                                                                                         \
                inChunk = 0;                                                                              \
            }                                                                                             \
        }                                                                                                 \
        BARRIER();                                                                                        \
    }                                                                                                     \
    for (int r = 0; r < RB; r++) {                                                                        \
        for (int e = 0; e < RB; e++) {                                                                    \
            const int i = i0 + ly + TS * r, j = j0 + lx + TS * e;                                         \
            if (i < mi && j < nj && (!lower || j <= i)) {                                                 \
                c[co + (long) i * ldc + j] = v[r][e];                                                     \
            }                                                                                             \
        }                                                                                                 \
    }                                                                                                     \
}

PRODUCT(la_product_d, double)
PRODUCT(la_product_f, float)

/*
 * The unblocked Cholesky of the kb×kb diagonal block at (k0, k0) of a (row stride n), in place,
 * as InverseCholesky.choleskyBlock: element (i, j) is s = a_ij; s -= a_ik·a_jk for k < j; then
 * √s on the diagonal, s / l_jj below it. One group of NB work-items, column by column: the
 * pivot first, then the column below it in parallel. fail[0] is set when a pivot is not > 0 or
 * not finite (the CPU's "not positive definite").
 */
KERNEL void la_potf2(GLOBAL double* a, const int n, const int k0, const int kb, GLOBAL int* fail) {
    const int i = LX;
    const long base = (long) k0 * n + k0;
    for (int j = 0; j < kb; j++) {
        const long rj = base + (long) j * n;
        if (i == j) {
            double s = a[rj + j];
            for (int k = 0; k < j; k++) {
                s -= a[rj + k] * a[rj + k];
            }
            if (!(s > 0) || !isfinite(s)) {
                fail[0] = 1;
            }
            a[rj + j] = sqrt(s);
        }
        BARRIER();
        if (i > j && i < kb) {
            const long ri = base + (long) i * n;
            double s = a[ri + j];
            for (int k = 0; k < j; k++) {
                s -= a[ri + k] * a[rj + k];
            }
            a[ri + j] = s / a[rj + j];
        }
        BARRIER();
    }
}

/*
 * X = L⁻¹ of the kb×kb lower block l[lo + i·ldl + k] into x[xo + i·ldx + j] (its lower triangle;
 * x may be l itself), as InverseCholesky.invertBlock: row by row, acc_j = Σ_{j ≤ k < i} l_ik·x_kj
 * (a multiply and an add, ascending k, terms with l_ik = 0 skipped), x_ij = −acc_j · (1 / l_ii),
 * x_ii = 1 / l_ii. One group of NB work-items, work-item j holding acc_j; row i is written only
 * after every work-item has read it, so the block may be inverted in place.
 */
KERNEL void la_trtri(const GLOBAL double* l, const long lo, const int ldl, GLOBAL double* x, const long xo,
                     const int ldx, const int kb) {
    const int j = LX;
    for (int i = 0; i < kb; i++) {
        const long ri = lo + (long) i * ldl;
        double acc = 0.0;
        if (j < i) {
            for (int k = j; k < i; k++) {
                const double lik = l[ri + k];
                if (lik != 0) {
                    acc += lik * x[xo + (long) k * ldx + j];
                }
            }
        }
        const double inv = 1.0 / l[ri + i];
        BARRIER();
        if (j < i) {
            x[xo + (long) i * ldx + j] = -acc * inv;
        } else if (j == i) {
            x[xo + (long) i * ldx + i] = inv;
        }
        BARRIER();
    }
}

/* dst[r·cols + q] = a[ao + r·n + q] for r < rows, q < cols (the panel the solve reads while it overwrites a). */
KERNEL void la_copy(const GLOBAL double* a, const long ao, const int n, const int rows, const int cols,
                    GLOBAL double* dst) {
    const int q = GX * TS + LX, r = GY * TS + LY;
    if (r < rows && q < cols) {
        dst[(long) r * cols + q] = a[ao + (long) r * n + q];
    }
}

/* a[i·n + j] = 0 for j > i: the strict upper triangle, exact zeros before the inverse. */
KERNEL void la_zero_upper(GLOBAL double* a, const int n) {
    const int j = GX * TS + LX, i = GY * TS + LY;
    if (i < n && j < n && j > i) {
        a[(long) i * n + j] = 0.0;
    }
}
