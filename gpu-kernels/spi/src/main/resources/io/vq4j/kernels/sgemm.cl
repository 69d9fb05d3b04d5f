/*
 * The OpenCL backend's float gemm (OpenClGemm), compiled after vq.cl with the OpenCL prelude only
 * (not part of the CUDA source: the CUDA backend keeps cuBLAS).
 *
 * C = alpha·op(A)·op(B) (+ beta·C when beta != 0, so beta = 0 ignores C's old contents, NaN
 * included) with every element summed as the CPU backend's gemm sums it (PackedMatmul): from 0 by
 * fma(a, b, s) in ascending k, then alpha·s (+ beta·c) rounded as two products and a sum
 * (contraction off). So the bits equal CpuBackend.gemm's; work-items only change where an
 * element is computed, never its own sequence of operations.
 *
 * op(B) is first packed (sgemm_pack) into panels of SG_W columns, p[(panel·k + q)·SG_W + lane] =
 * op(B)(q, panel·SG_W + lane) (zeros past n), so one work-item reads its panel as one vector per
 * step of k. A work-item holds SG_R rows × SG_W columns of C (SG_R vectors of sums): row r of
 * op(A) at a[ao + r·ars + q·aqs] (one scalar per row and step, broadcast).
 */
#pragma OPENCL FP_CONTRACT OFF

#define SG_W 16
#define SG_R 8
typedef float16 sgvec;
#define SG_LOAD(p) vload16(0, p)
#define SG_STORE(v, p) vstore16(v, 0, p)

/* One work-item per (q, panel): the packed op(B), op(B)(q, j) = b[bo + q·bqs + j·bjs]. */
KERNEL void sgemm_pack(const GLOBAL float* b, const long bo, const long bqs, const long bjs, const int k,
                       const int n, GLOBAL float* p) {
    const int q = GLOBAL_ID(0);
    const int panel = GLOBAL_ID(1);
    if (q >= k) {
        return;
    }
    GLOBAL float* dst = p + ((long) panel * k + q) * SG_W;
    for (int l = 0; l < SG_W; l++) {
        const int j = panel * SG_W + l;
        dst[l] = j < n ? b[bo + q * bqs + j * bjs] : 0.0f;
    }
}

/* Work-item (panel, row block): rows [SG_R·rb, SG_R·rb + SG_R) ∩ [0, m), columns of its panel ∩ [0, n). */
KERNEL void sgemm_packed(const int m, const int n, const int k, const float alpha, const float beta,
                         const GLOBAL float* a, const long ao, const long ars, const long aqs,
                         const GLOBAL float* p, GLOBAL float* c, const long co, const long ldc) {
    const int panel = GLOBAL_ID(0);
    const int r0 = GLOBAL_ID(1) * SG_R;
    if (r0 >= m || panel * SG_W >= n) {
        return;
    }
    const GLOBAL float* ap[SG_R];
    for (int i = 0; i < SG_R; i++) {
        ap[i] = a + ao + (long) min(r0 + i, m - 1) * ars; /* rows past m read row m-1, never stored */
    }
    sgvec s0 = (sgvec) 0.0f, s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    const GLOBAL float* bp = p + (long) panel * k * SG_W;
    for (int q = 0; q < k; q++) {
        const sgvec v = SG_LOAD(bp + (long) q * SG_W);
        const long o = q * aqs;
        s0 = fma((sgvec) (ap[0][o]), v, s0);
        s1 = fma((sgvec) (ap[1][o]), v, s1);
        s2 = fma((sgvec) (ap[2][o]), v, s2);
        s3 = fma((sgvec) (ap[3][o]), v, s3);
        s4 = fma((sgvec) (ap[4][o]), v, s4);
        s5 = fma((sgvec) (ap[5][o]), v, s5);
        s6 = fma((sgvec) (ap[6][o]), v, s6);
        s7 = fma((sgvec) (ap[7][o]), v, s7);
    }
    sgvec s[SG_R] = {s0, s1, s2, s3, s4, s5, s6, s7};
    const int j0 = panel * SG_W;
    for (int i = 0; i < SG_R && r0 + i < m; i++) {
        GLOBAL float* dst = c + co + (long) (r0 + i) * ldc + j0;
        if (j0 + SG_W <= n) {
            sgvec y = alpha * s[i];
            if (beta != 0.0f) {
                y = alpha * s[i] + beta * SG_LOAD(dst);
            }
            SG_STORE(y, dst);
        } else {
            float t[SG_W];
            SG_STORE(s[i], t);
            for (int l = 0; j0 + l < n; l++) {
                dst[l] = beta != 0.0f ? alpha * t[l] + beta * dst[l] : alpha * t[l];
            }
        }
    }
}
