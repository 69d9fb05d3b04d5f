/*
 * The in-block step of GPTQ's error feedback (Backend.gptqBlock), one family: compiled after
 * vq.cl, with its prelude (KERNEL, FUNC, GLOBAL, GLOBAL_ID, HAS_DOUBLE; io.vq4j.kernels.KernelSource).
 *
 * gptq_scalar_block is io.vq4j.kernels.feedback.GptqBlock (the CPU's code) operation by
 * operation, one work-item per row: the row's block columns left to right, in place on the
 * resident W. Java's float arithmetic is IEEE with no contraction (here: FP_CONTRACT OFF, NVRTC
 * -fmad=false); its float divisions are correctly rounded, so each is computed in double and
 * rounded once (a quotient of floats rounded from double is the correctly rounded float one:
 * 53 >= 2·24 + 2 bits); Math.round, Math.min/max (NaN and −0) and the fp16 conversions are
 * Java's own bit algorithms (Math.round(float), Float.floatToFloat16, Float.float16ToFloat).
 * gptvq_block (below) is io.vq4j.kernels.feedback.GptvqBlock in the same way, a work-group per row.
 * Needs doubles: a device without them runs the CPU's code.
 */
#ifdef HAS_DOUBLE
#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
#define FB_AS_INT(x) as_int(x)
#define FB_AS_FLOAT(x) as_float(x)
#else
#define FB_AS_INT(x) __float_as_int(x)
#define FB_AS_FLOAT(x) __int_as_float(x)
#endif
#define FB_INT_MIN (-2147483647 - 1)

/* a / b in float, correctly rounded (Java's float division). */
FUNC float fb_div(const float a, const float b) {
    return (float) ((double) a / (double) b);
}

/* Java's Math.min(float, float): NaN wins, −0 below +0. */
FUNC float fb_min(const float a, const float b) {
    if (a != a) {
        return a;
    }
    if (a == 0.0f && b == 0.0f && FB_AS_INT(b) == FB_INT_MIN) {
        return b;
    }
    return a <= b ? a : b;
}

/* Java's Math.max(float, float). */
FUNC float fb_max(const float a, const float b) {
    if (a != a) {
        return a;
    }
    if (a == 0.0f && b == 0.0f && FB_AS_INT(a) == FB_INT_MIN) {
        return b;
    }
    return a >= b ? a : b;
}

/* Java's Math.round(float): the nearest int, ties up; (int) a (NaN 0, saturated) outside its shifts. */
FUNC int fb_round(const float a) {
    const int bits = FB_AS_INT(a);
    const int shift = (24 - 2 + 127) - ((bits & 0x7f800000) >> 23);
    if ((shift & -32) == 0) {
        int r = (bits & 0x007fffff) | 0x00800000;
        if (bits < 0) {
            r = -r;
        }
        return ((r >> shift) + 1) >> 1;
    }
    if (a != a) {
        return 0;
    }
    if (a >= 2147483648.0f) {
        return 2147483647;
    }
    if (a <= -2147483648.0f) {
        return FB_INT_MIN;
    }
    return (int) a;
}

/* Java's Float.floatToFloat16 (round to nearest even), the half's 16 bits. */
FUNC int fb_to_half(const float f) {
    const int doppel = FB_AS_INT(f);
    const int sign = (int) (((unsigned int) doppel >> 16) & 0x8000u);
    if (f != f) {
        return sign | 0x7c00 | ((doppel & 0x007fe000) >> 13) | ((doppel & 0x00001ff0) >> 4) | (doppel & 0x0000000f);
    }
    const float mag = f < 0.0f ? -f : f;
    if (mag >= 65520.0f) { /* binary16's max + 1/2 ulp */
        return sign | 0x7c00;
    }
    if (mag <= 2.98023223876953125e-8f) { /* half of the smallest subnormal and below: zero */
        return sign;
    }
    int e16 = ((doppel & 0x7f800000) >> 23) - 127;
    int expdelta = 0;
    int msb = 0;
    if (e16 < -14) {
        expdelta = -14 - e16;
        e16 = -15;
        msb = 0x00800000;
    }
    const int sig = (doppel & 0x007fffff) | msb;
    int bits16 = sig >> (13 + expdelta);
    const int lsb = sig & (1 << (13 + expdelta));
    const int rnd = sig & (1 << (12 + expdelta));
    const int sticky = sig & ((1 << (12 + expdelta)) - 1);
    if (rnd != 0 && (lsb | sticky) != 0) {
        bits16++;
    }
    return (sign | (((e16 + 15) << 10) + bits16)) & 0xffff;
}

/* Java's Float.float16ToFloat of the 16 bits h. */
FUNC float fb_from_half(const int h) {
    const unsigned int s = (unsigned int) (h & 0x8000) << 16;
    const int e = (h & 0x7c00) >> 10;
    const int m = h & 0x03ff;
    if (e == 0) {
        const float v = 5.9604644775390625e-8f * (float) m;
        return s != 0 ? -v : v;
    }
    if (e == 31) {
        return FB_AS_FLOAT((int) (s | 0x7f800000u | ((unsigned int) m << 13)));
    }
    return FB_AS_FLOAT((int) (s | ((unsigned int) (e - 15 + 127) << 23) | ((unsigned int) m << 13)));
}

/*
 * ScalarGrid.of over w[0, n): returns the fp16 scale, writes the zero-point; a scale outside fp16
 * sets bad[0] and badScale[0] (the unrounded scale, for the host's message).
 */
FUNC float fb_grid(const GLOBAL float* w, const int n, const int bits, const int symmetric, int* zeroOut,
                   GLOBAL int* bad, GLOBAL float* badScale) {
    const int maxq = (1 << bits) - 1;
    float mn = 0.0f;
    float mx = 0.0f;
    for (int i = 0; i < n; i++) {
        mn = fb_min(mn, w[i]);
        mx = fb_max(mx, w[i]);
    }
    if (symmetric) {
        mx = fb_max(-mn, mx);
        mn = -mx;
    }
    float scale = fb_div(mx - mn, (float) maxq);
    if (scale == 0.0f) {
        scale = 1.0f;
    }
    const int hb = fb_to_half(scale);
    float h = fb_from_half(hb);
    if (h < scale) {
        h = fb_from_half((hb + 1) & 0xffff);
    }
    scale = h;
    if (scale == 0.0f || scale == INFINITY || scale == -INFINITY) {
        bad[0] = 1;
        badScale[0] = fb_div(mx - mn, (float) maxq);
    }
    int zero = symmetric ? (maxq + 1) / 2 : fb_round(fb_div(-mn, scale));
    *zeroOut = zero < 0 ? 0 : zero > maxq ? maxq : zero;
    return scale;
}

/*
 * Row r (one work-item) of the block of columns [i1, i1 + width) of w (rows × cols, in place):
 * codes (rows × width), the grids of groups g0 … g0 + ng − 1 in scales and zeros (rows × ng; that
 * of g0 read when it started before i1), the scaled errors into err (row stride lde), ub the
 * block's U (width × width, double).
 */
KERNEL void gptq_scalar_block(GLOBAL float* w, const int rows, const int cols, const int i1, const int width,
                              const GLOBAL double* ub, const int g, const int bits, const int symmetric,
                              GLOBAL int* codes, GLOBAL float* scales, GLOBAL int* zeros, const int g0, const int ng,
                              GLOBAL float* err, const int lde, GLOBAL int* bad, GLOBAL float* badScale) {
    const int r = GLOBAL_ID(0);
    if (r >= rows) {
        return;
    }
    GLOBAL float* wr = w + (long) r * cols;
    const int maxq = (1 << bits) - 1;
    float scale = scales[(long) r * ng];
    int zero = zeros[(long) r * ng];
    for (int jj = 0; jj < width; jj++) {
        const int j = i1 + jj;
        if (j % g == 0) {
            const int end = min(cols, j + g);
            scale = fb_grid(wr + j, end - j, bits, symmetric, &zero, bad, badScale);
            scales[(long) r * ng + j / g - g0] = scale;
            zeros[(long) r * ng + j / g - g0] = zero;
        }
        const float x = wr[j];
        int q = (int) ((unsigned int) fb_round(fb_div(x, scale)) + (unsigned int) zero); /* Java's int addition wraps */
        q = q < 0 ? 0 : q > maxq ? maxq : q;
        codes[(long) r * width + jj] = q;
        const float deq = scale * (float) (q - zero);
        const GLOBAL double* u = ub + (long) jj * width;
        const float e = (float) ((double) (x - deq) / u[jj]);
        wr[j] = deq;
        err[(long) r * lde + jj] = e;
        for (int l = jj + 1; l < width; l++) {
            wr[i1 + l] = wr[i1 + l] - (float) ((double) e * u[l]);
        }
    }
}

/*
 * GPTVQ's in-block step (Backend.gptvqBlock): io.vq4j.kernels.feedback.GptvqBlock operation by
 * operation, one work-group of GV_GROUP work-items per row, in place on the resident W. Per slice
 * of d columns: the row's sub-vector x_t = w_t / s and weights (float) (D_t · s · s) in local
 * memory; each work-item scans the centroids c ≡ its id (mod GV_GROUP) in order with the SPI's
 * distance (acc = fma(w_t · diff, diff, acc), diff = c_t − x_t: vq.cl's assignment) keeping the
 * first least (strict <); a tree takes the least distance, the lowest index among equal ones,
 * which is the first least of a scan from 0 (the CPU's assignNearest; centroid 0 when nothing is
 * below infinity). Work-item 0 then takes q = c · s, the error by forward substitution in double
 * and the row's index; the work-items share the block's later columns for
 * w_l −= (float) Σ_t e_t · U_tl (the sum in double from 0, t in order). The barriers fence global
 * memory too: the next slice reads what this one wrote to W.
 */
#define GV_GROUP 64
#define GV_MAXD 16
#ifdef __OPENCL_VERSION__
#define GV_BARRIER() barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)
#define GV_FMA(a, b, c) fma(a, b, c)
#else
#define GV_BARRIER() __syncthreads()
#define GV_FMA(a, b, c) fmaf(a, b, c)
#endif

/*
 * Row GROUP_ID(0) of the block [i1, i1 + width) of w (rows × cols): ub the block's U (width ×
 * width, double), dw the block's D (width, double), books the column group's codebooks (one of
 * k × d per gRows rows), scales the rows' slice scales (rows × width/d; hasScales 0: all 1),
 * the indices into idx (rows × width/d), the scaled errors into err (row stride lde).
 */
KERNEL void gptvq_block(GLOBAL float* w, const int rows, const int cols, const int i1, const int width,
                        const GLOBAL double* ub, const GLOBAL double* dw, const int d, const GLOBAL float* books,
                        const int k, const int gRows, const GLOBAL float* scales, const int hasScales,
                        GLOBAL int* idx, GLOBAL float* err, const int lde) {
    LOCAL float xs[GV_MAXD];
    LOCAL float ws[GV_MAXD];
    LOCAL double es[GV_MAXD];
    LOCAL float bestD[GV_GROUP];
    LOCAL int bestI[GV_GROUP];
    const int r = GROUP_ID(0);
    const int lid = LOCAL_ID(0);
    GLOBAL float* wr = w + (long) r * cols + i1;
    const GLOBAL float* book = books + (long) (r / gRows) * k * d;
    const int per = width / d;
    for (int v = 0; v < per; v++) {
        const int jj = v * d;
        const float sc = hasScales ? scales[(long) r * per + v] : 1.0f;
        if (lid < d) {
            xs[lid] = fb_div(wr[jj + lid], sc);
            ws[lid] = (float) (dw[jj + lid] * (double) sc * (double) sc);
        }
        GV_BARRIER();
        float best = INFINITY;
        int bi = 0;
        for (int c = lid; c < k; c += GV_GROUP) {
            const GLOBAL float* cv = book + (long) c * d;
            float acc = 0.0f;
            for (int t = 0; t < d; t++) {
                const float diff = cv[t] - xs[t];
                acc = GV_FMA(ws[t] * diff, diff, acc);
            }
            if (acc < best) {
                best = acc;
                bi = c;
            }
        }
        bestD[lid] = best;
        bestI[lid] = bi;
        GV_BARRIER();
        for (int h = GV_GROUP / 2; h > 0; h >>= 1) {
            if (lid < h) {
                const float o = bestD[lid + h];
                const int oi = bestI[lid + h];
                if (o < bestD[lid] || (o == bestD[lid] && oi < bestI[lid])) {
                    bestD[lid] = o;
                    bestI[lid] = oi;
                }
            }
            GV_BARRIER();
        }
        if (lid == 0) {
            const int c = bestD[0] < INFINITY ? bestI[0] : 0;
            idx[(long) r * per + v] = c;
            for (int t = 0; t < d; t++) {
                const float q = book[(long) c * d + t] * sc;
                double s = (double) (wr[jj + t] - q);
                wr[jj + t] = q;
                for (int a = 0; a < t; a++) {
                    s = s - es[a] * ub[(long) (jj + a) * width + jj + t];
                }
                const double e = s / ub[(long) (jj + t) * width + jj + t];
                es[t] = e;
                err[(long) r * lde + jj + t] = (float) e;
            }
        }
        GV_BARRIER();
        for (int l = jj + d + lid; l < width; l += GV_GROUP) {
            double acc = 0.0;
            for (int t = 0; t < d; t++) {
                acc = acc + es[t] * ub[(long) (jj + t) * width + l];
            }
            wr[l] = wr[l] - (float) acc;
        }
        GV_BARRIER();
    }
}
#endif
