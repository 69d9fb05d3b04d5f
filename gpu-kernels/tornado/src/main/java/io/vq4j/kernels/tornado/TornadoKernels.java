package io.vq4j.kernels.tornado;

import static io.vq4j.kernels.packed.PackedLayout.SEG_BITS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_BLOCK_BITS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_BLOCK_CODES;
import static io.vq4j.kernels.packed.PackedLayout.SEG_BLOCK_COLS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_BLOCK_TABLE;
import static io.vq4j.kernels.packed.PackedLayout.SEG_CODES;
import static io.vq4j.kernels.packed.PackedLayout.SEG_DENSE;
import static io.vq4j.kernels.packed.PackedLayout.SEG_DENSE_BITS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_DIM;
import static io.vq4j.kernels.packed.PackedLayout.SEG_FIELDS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_FIRST_STAGE;
import static io.vq4j.kernels.packed.PackedLayout.SEG_FROM;
import static io.vq4j.kernels.packed.PackedLayout.SEG_GROUP_COLS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_GROUP_ROWS;
import static io.vq4j.kernels.packed.PackedLayout.SEG_GROUP_SIZE;
import static io.vq4j.kernels.packed.PackedLayout.SEG_KIND;
import static io.vq4j.kernels.packed.PackedLayout.SEG_SCALAR;
import static io.vq4j.kernels.packed.PackedLayout.SEG_SCALES;
import static io.vq4j.kernels.packed.PackedLayout.SEG_STAGE_COUNT;
import static io.vq4j.kernels.packed.PackedLayout.SEG_TO;
import static io.vq4j.kernels.packed.PackedLayout.SEG_VALUES;
import static io.vq4j.kernels.packed.PackedLayout.SEG_VECTOR_IN;
import static io.vq4j.kernels.packed.PackedLayout.SEG_ZEROS;
import static io.vq4j.kernels.packed.PackedLayout.STAGE_CODEBOOKS;
import static io.vq4j.kernels.packed.PackedLayout.STAGE_FIELDS;
import static io.vq4j.kernels.packed.PackedLayout.STAGE_INDEX_BITS;
import static io.vq4j.kernels.packed.PackedLayout.STAGE_INDICES;
import static io.vq4j.kernels.packed.PackedLayout.STAGE_K;

import uk.ac.manchester.tornado.api.KernelContext;
import uk.ac.manchester.tornado.api.types.arrays.ByteArray;
import uk.ac.manchester.tornado.api.types.arrays.DoubleArray;
import uk.ac.manchester.tornado.api.types.arrays.FloatArray;
import uk.ac.manchester.tornado.api.types.arrays.IntArray;

/**
 * The kernels of the TornadoVM backend: Java that TornadoVM compiles for its OpenCL and PTX
 * devices (KernelContext kernels; local memory where it pays). They compute what vq.cl computes,
 * in the same order, so that every result is the CPU backend's bits.
 *
 * <p>Floating-point contraction. TornadoVM fuses every float a*b + c into fma (its FMA phase,
 * on by default; the backend refuses to start with {@code -Dtornado.enable.fma=False}) and
 * {@code Math.fma} itself does not compile. So an fma is written a*b + c, and a product that
 * must be rounded on its own is written {@link #mul}: the product of two floats is exact in
 * double, and rounding it to float gives the float product's bits, with no multiply left for
 * the FMA phase (or ptxas) to fuse. Java's rules otherwise hold: float arithmetic is IEEE, and
 * the backend sets the OpenCL build options to none of TornadoVM's fast-math defaults.
 *
 * <p>Known TornadoVM limits kept here: no {@code @Reduce} (wrong sums on PoCL), no atomics
 * (refused for floats by its OpenCL backend), no {@code half} variables (fp16 is decoded from
 * its bits), local arrays of constant size.
 */
public final class TornadoKernels {
    /** The longest vector (d) the assignment kernel takes, as vq.cl's MAX_D. */
    public static final int MAX_D = 16;
    /** Centroids per local-memory tile of the assignment (TILE × MAX_D floats = 16 KiB). */
    public static final int TILE = 256;
    /** Side of the gemm kernel's square tiles (work-groups of GEMM_TILE × GEMM_TILE). */
    public static final int GEMM_TILE = 16;

    private TornadoKernels() {
    }

    /** a·b rounded once to float, never fused with a following add. */
    static float mul(float a, float b) {
        return (float) ((double) a * (double) b);
    }

    /**
     * For every vector i < n, the nearest of k centroids under Σ_j w_ij (c_j − x_ij)², ties to
     * the lowest index. One work-item per vector, x and w in private memory; the codebook
     * streams through local memory TILE centroids at a time.
     */
    public static void assignNearest(KernelContext kc, FloatArray x, FloatArray w, int weighted, int n, int d,
                                     FloatArray cb, int k, IntArray index, FloatArray dist) {
        float[] tile = kc.allocateFloatLocalArray(TILE * MAX_D);
        int i = kc.globalIdx;
        int lid = kc.localIdx;
        int lsz = kc.localGroupSizeX;
        float[] xv = new float[MAX_D];
        float[] wv = new float[MAX_D];
        for (int j = 0; j < d; j++) {
            xv[j] = 0.0f;
            wv[j] = 1.0f;
            if (i < n) {
                xv[j] = x.get(i * d + j);
                if (weighted == 1) {
                    wv[j] = w.get(i * d + j);
                }
            }
        }
        int best = 0;
        float bestDist = Float.POSITIVE_INFINITY;
        for (int c0 = 0; c0 < k; c0 += TILE) {
            int tk = Math.min(TILE, k - c0);
            kc.localBarrier();
            for (int e = lid; e < tk * d; e += lsz) {
                tile[e] = cb.get(c0 * d + e);
            }
            kc.localBarrier();
            if (i < n) {
                for (int t = 0; t < tk; t++) {
                    float acc = 0.0f;
                    if (weighted == 1) {
                        for (int j = 0; j < d; j++) {
                            float diff = tile[t * d + j] - xv[j];
                            float wd = mul(wv[j], diff);
                            acc = wd * diff + acc; // fma(w * diff, diff, acc), the defined distance
                        }
                    } else {
                        for (int j = 0; j < d; j++) {
                            float diff = tile[t * d + j] - xv[j];
                            acc = diff * diff + acc; // fma(diff, diff, acc)
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
            index.set(i, best);
            dist.set(i, bestDist);
        }
    }

    /** Sets the first {@code count} elements of two double arrays to zero. */
    public static void zero(KernelContext kc, DoubleArray a, DoubleArray b, int count) {
        int e = kc.globalIdx;
        if (e < count) {
            a.set(e, 0.0);
            b.set(e, 0.0);
        }
    }

    /**
     * M-step, pass 1: work-group g sums the vectors [g·chunk, min(n, (g+1)·chunk)) in order into
     * its own partial arrays (k×d doubles each); work-item t owns the centroids c with
     * c mod group size = t, so every element has one writer and a fixed order of additions.
     * The product of a float weight and a float value is exact in double, so whether it is
     * fused changes nothing.
     */
    public static void accumulatePartials(KernelContext kc, FloatArray x, FloatArray w, int weighted, int n, int d,
                                          IntArray index, int k, int chunk, DoubleArray psum, DoubleArray pw) {
        int g = kc.groupIdx;
        int t = kc.localIdx;
        int lsz = kc.localGroupSizeX;
        int base = g * k * d;
        int end = Math.min(n, (g + 1) * chunk);
        for (int i = g * chunk; i < end; i++) {
            int c = index.get(i);
            if (c % lsz == t) {
                for (int j = 0; j < d; j++) {
                    double wt = 1.0;
                    if (weighted == 1) {
                        wt = (double) w.get(i * d + j);
                    }
                    int e = base + c * d + j;
                    psum.set(e, psum.get(e) + wt * (double) x.get(i * d + j));
                    pw.set(e, pw.get(e) + wt);
                }
            }
        }
    }

    /**
     * M-step, pass 2: sums[e] += Σ_p psum[p·kd + e] over this call's partials in order; the host
     * passes in the running sums (zeros for the first tile), so tiles add up as one call.
     */
    public static void reducePartials(KernelContext kc, DoubleArray psum, DoubleArray pw, int parts, int kd,
                                      DoubleArray sums, DoubleArray wsums) {
        int e = kc.globalIdx;
        if (e < kd) {
            double s = sums.get(e);
            double sw = wsums.get(e);
            for (int p = 0; p < parts; p++) {
                s = s + psum.get(p * kd + e);
                sw = sw + pw.get(p * kd + e);
            }
            sums.set(e, s);
            wsums.set(e, sw);
        }
    }

    /**
     * C = alpha · op(A) · op(B) (+ beta · C when withBeta = 1), row-major, on a 2-D grid of
     * GEMM_TILE² work-groups: x the column of C, y its row; both operands pass through local memory.
     */
    public static void gemm(KernelContext kc, FloatArray a, FloatArray b, FloatArray c, int m, int n, int k,
                            int transA, int transB, float alpha, float beta, int withBeta) {
        float[] as = kc.allocateFloatLocalArray(GEMM_TILE * GEMM_TILE);
        float[] bs = kc.allocateFloatLocalArray(GEMM_TILE * GEMM_TILE);
        int col = kc.globalIdx;
        int row = kc.globalIdy;
        int lx = kc.localIdx;
        int ly = kc.localIdy;
        float acc = 0.0f;
        for (int t0 = 0; t0 < k; t0 += GEMM_TILE) {
            int ac = t0 + lx;
            float av = 0.0f;
            if (row < m && ac < k) {
                if (transA == 1) {
                    av = a.get(ac * m + row);
                } else {
                    av = a.get(row * k + ac);
                }
            }
            as[ly * GEMM_TILE + lx] = av;
            int br = t0 + ly;
            float bv = 0.0f;
            if (br < k && col < n) {
                if (transB == 1) {
                    bv = b.get(col * k + br);
                } else {
                    bv = b.get(br * n + col);
                }
            }
            bs[ly * GEMM_TILE + lx] = bv;
            kc.localBarrier();
            for (int l = 0; l < GEMM_TILE; l++) {
                acc = as[ly * GEMM_TILE + l] * bs[l * GEMM_TILE + lx] + acc;
            }
            kc.localBarrier();
        }
        if (row < m && col < n) {
            float r = mul(alpha, acc);
            if (withBeta == 1) {
                r = r + mul(beta, c.get(row * n + col));
            }
            c.set(row * n + col, r);
        }
    }

    /** The width-bit field number i of the bit stream that starts at byte {@code at}. */
    static int packedBits(ByteArray b, int at, long i, int width) {
        long bit = i * width;
        int p = (int) (at + (bit >> 3));
        int word = (b.get(p) & 0xFF) | ((b.get(p + 1) & 0xFF) << 8) | ((b.get(p + 2) & 0xFF) << 16);
        return (word >> (int) (bit & 7)) & ((1 << width) - 1);
    }

    /** The IEEE half with bits h, as a float, by integer and exact float operations (no half type). */
    static float halfToFloat(int h) {
        int e = (h >> 10) & 31;
        int m = h & 1023;
        float v;
        if (e == 31) {
            v = Float.POSITIVE_INFINITY;
            if (m != 0) {
                // NaN, computed: TornadoVM's OpenCL code generator writes a NaN constant as NaNF, which does not compile
                v = (float) Math.sqrt(-(double) m);
            }
        } else {
            int mant = m;
            int ex = 1;
            if (e != 0) {
                mant = m | 1024;
                ex = e;
            }
            float scale = 5.9604645E-8f; // 2^-24
            for (int q = 1; q < ex; q++) {
                scale = scale * 2.0f;
            }
            v = (float) mant * scale; // exact: at most 11 bits times a power of two
        }
        if ((h & 0x8000) != 0) {
            v = -v;
        }
        return v;
    }

    /** The segment (of nseg) that stored column position c falls in. */
    static int segmentOf(IntArray seg, int nseg, int c) {
        int s = 0;
        while (s + 1 < nseg && c >= seg.get(s * SEG_FIELDS + SEG_TO)) {
            s++;
        }
        return s;
    }

    /*
     * W'[r, c] (vq.cl's packed_weight) is written out in each of the two packed kernels below:
     * as one method, with its three decoders inlined, its graph exceeds the size TornadoVM's
     * inliner accepts for a callee (600 nodes); a kernel itself has no such limit.
     */

    /** A scalar-quantized segment (SEG_SCALAR): scale × (code − zero point). */
    static float scalarWeight(IntArray seg, int o, ByteArray by, FloatArray fl, IntArray in, int r, int c) {
        int cc = c - seg.get(o + SEG_FROM);
        int width = seg.get(o + SEG_TO) - seg.get(o + SEG_FROM);
        int gs = seg.get(o + SEG_GROUP_SIZE);
        int g = r * ((width + gs - 1) / gs) + cc / gs;
        int code = packedBits(by, seg.get(o + SEG_CODES), (long) r * width + cc, seg.get(o + SEG_BITS));
        // code - zero point in float: TornadoVM types the masked byte arithmetic of packedBits as unsigned in
        // OpenCL C, so an int difference that is negative would convert to float as 2^32 minus it. Both are
        // integers below 2^17, exact in float, and so is their difference: the same value as (float) (code - zp).
        float q = (float) code - (float) in.get(seg.get(o + SEG_ZEROS) + g);
        return mul(fl.get(seg.get(o + SEG_SCALES) + g), q);
    }

    /** A dense segment (SEG_DENSE): fp32, or fp16 decoded from its bits. */
    static float denseWeight(IntArray seg, int o, ByteArray by, FloatArray fl, int r, int c) {
        int cc = c - seg.get(o + SEG_FROM);
        int width = seg.get(o + SEG_TO) - seg.get(o + SEG_FROM);
        int i = r * width + cc;
        float w;
        if (seg.get(o + SEG_DENSE_BITS) == 32) {
            w = fl.get(seg.get(o + SEG_VALUES) + i);
        } else {
            int p = seg.get(o + SEG_VALUES) + 2 * i;
            w = halfToFloat((by.get(p) & 0xFF) | ((by.get(p + 1) & 0xFF) << 8));
        }
        return w;
    }

    /**
     * A vector-quantized segment (SEG_VECTOR_IN: vectors along a row, SEG_VECTOR_OUT: along a
     * column): the sum of its stages' centroids.
     */
    static float vectorWeight(IntArray seg, int o, IntArray st, ByteArray by, FloatArray fl, int rows, int r, int c) {
        int kind = seg.get(o + SEG_KIND);
        int cc = c - seg.get(o + SEG_FROM);
        int width = seg.get(o + SEG_TO) - seg.get(o + SEG_FROM);
        int d = seg.get(o + SEG_DIM);
        int i;
        int j;
        int r0;
        int c0;
        if (kind == SEG_VECTOR_IN) {
            j = cc % d;
            i = r * (width / d) + cc / d;
            r0 = r;
            c0 = cc - j;
        } else {
            j = r % d;
            i = cc * (rows / d) + r / d;
            r0 = r - j;
            c0 = cc;
        }
        int gc = seg.get(o + SEG_GROUP_COLS);
        int g = (r0 / seg.get(o + SEG_GROUP_ROWS)) * ((width + gc - 1) / gc) + c0 / gc;
        float sum = 0.0f;
        int t1 = seg.get(o + SEG_FIRST_STAGE) + seg.get(o + SEG_STAGE_COUNT);
        for (int t = seg.get(o + SEG_FIRST_STAGE); t < t1; t++) {
            int so = t * STAGE_FIELDS;
            int idx = packedBits(by, st.get(so + STAGE_INDICES), i, st.get(so + STAGE_INDEX_BITS));
            sum = sum + fl.get(st.get(so + STAGE_CODEBOOKS) + ((g * st.get(so + STAGE_K) + idx) * d + j));
        }
        int bc = seg.get(o + SEG_BLOCK_COLS);
        if (bc > 0) {
            int code = packedBits(by, seg.get(o + SEG_BLOCK_CODES), (long) r * ((width + bc - 1) / bc) + cc / bc,
                    seg.get(o + SEG_BLOCK_BITS));
            sum = mul(sum, fl.get(seg.get(o + SEG_BLOCK_TABLE) + code));
        }
        return sum;
    }

    /** W (rows × cols, original column order): one work-item per weight. */
    public static void packedDequant(KernelContext kc, IntArray seg, int nseg, IntArray st, ByteArray by, FloatArray fl,
                                     IntArray in, int rows, int cols, int perm, int ns, int nb, FloatArray out) {
        int e = kc.globalIdx;
        if (e < rows * cols) {
            int r = e / cols;
            int c = e % cols;
            int o = segmentOf(seg, nseg, c) * SEG_FIELDS;
            int kind = seg.get(o + SEG_KIND);
            float w;
            if (kind == SEG_SCALAR) {
                w = scalarWeight(seg, o, by, fl, in, r, c);
            } else if (kind == SEG_DENSE) {
                w = denseWeight(seg, o, by, fl, r, c);
            } else {
                w = vectorWeight(seg, o, st, by, fl, rows, r, c);
            }
            if (ns >= 0) {
                float scaled = mul(w, fl.get(ns + c));
                w = scaled + fl.get(nb + c);
            }
            int oc = c;
            if (perm >= 0) {
                oc = in.get(perm + c);
            }
            out.set(r * cols + oc, w);
        }
    }

    /**
     * Y = X Wᵀ for the call's input rows: one work-item per output (t, r), summing over the
     * stored column positions in order, as the CPU reference. The grid is exactly n·rows wide
     * (its size says n), so one plan serves every n up to its buffers' capacity.
     */
    public static void packedMatmul(KernelContext kc, IntArray seg, int nseg, IntArray st, ByteArray by, FloatArray fl,
                                    IntArray in, int rows, int cols, int perm, int ns, int nb, FloatArray x,
                                    FloatArray y) {
        int e = kc.globalIdx;
        int t = e / rows;
        int r = e % rows;
        int xt = t * cols;
        float acc = 0.0f;
        for (int c = 0; c < cols; c++) {
            int o = segmentOf(seg, nseg, c) * SEG_FIELDS;
            int kind = seg.get(o + SEG_KIND);
            float w;
            if (kind == SEG_SCALAR) {
                w = scalarWeight(seg, o, by, fl, in, r, c);
            } else if (kind == SEG_DENSE) {
                w = denseWeight(seg, o, by, fl, r, c);
            } else {
                w = vectorWeight(seg, o, st, by, fl, rows, r, c);
            }
            if (ns >= 0) {
                float scaled = mul(w, fl.get(ns + c));
                w = scaled + fl.get(nb + c);
            }
            int xc = c;
            if (perm >= 0) {
                xc = in.get(perm + c);
            }
            acc = acc + mul(w, x.get(xt + xc));
        }
        y.set(e, acc);
    }
}
