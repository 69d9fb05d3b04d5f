package io.vq4j.kernels.linalg;

import io.vq4j.core.Parallel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * The Gram and the factor on a GPU backend: the kernels of io/vq4j/kernels/linalg.cl (one
 * source for OpenCL and CUDA) and the one sequence of launches that both backends run, so that
 * the blocking, the chunks and the order of every sum are written once and are those of the
 * CPU's {@link InverseCholesky} and {@link Gram} (their constants {@link InverseCholesky#NB},
 * {@link InverseCholesky#KC} and {@link Gram#ROWS} are read here, not copied). The device result
 * is the CPU's bit for bit; the parity tests check it, so a change of the CPU's order that this
 * sequence does not follow fails them.
 *
 * <p>A backend supplies {@link Ops}: its buffers and how it launches each kernel.
 */
public final class LinalgKernels {
    /** Edge of the work-groups of the 2-D kernels (TS × TS work-items). */
    public static final int TS = 16;
    /** Edge of the tile of C one product work-group computes (each work-item 4 × 4 elements). */
    public static final int PRODUCT_TILE = 4 * TS;
    /** Work-items of the one-group kernels (potf2, trtri): a whole panel. */
    public static final int NB = InverseCholesky.NB;
    /** Kernel names. */
    public static final String PRODUCT_D = "la_product_d", PRODUCT_F = "la_product_f", POTF2 = "la_potf2",
            TRTRI = "la_trtri", COPY = "la_copy", ZERO_UPPER = "la_zero_upper";
    public static final int MODE_ADD = 0, MODE_SUB = 1, MODE_SET_ADD = 2, MODE_SET_SUB = 3;
    /**
     * dproduct.cl (OpenCL only): la_product with B packed first (dp_pack_*, a kq × panels grid) and
     * one work-item per {@link #PACKED_ROWS} rows × {@link #PACKED_COLS} columns of C (dp_product_*,
     * a panels × row-blocks grid), for a device whose compute units are CPU cores. The same bits.
     */
    public static final String PACK_D = "dp_pack_d", PACK_F = "dp_pack_f", PACKED_PRODUCT_D = "dp_product_d",
            PACKED_PRODUCT_F = "dp_product_f";
    public static final int PACKED_ROWS = 8, PACKED_COLS = 8;

    private LinalgKernels() {
    }

    /** How a backend runs the kernels on its buffers B. Calls are in order (an in-order queue or stream). */
    public interface Ops<B> {
        /**
         * la_product_d (la_product_f when floats) on a (nj/PRODUCT_TILE) × (mi/PRODUCT_TILE) grid of
         * TS × TS groups, rounded up: the arguments as linalg.cl names them.
         */
        void product(boolean floats, B a, long ao, int ais, int aqs, B b, long bo, int bqs, int bjs, B c, long co,
                     int ldc, int mi, int nj, int kq, int kc, int mode, boolean lower, boolean triA);

        /** la_potf2 on one group of NB work-items. */
        void potf2(B a, int n, int k0, int kb, B fail);

        /** la_trtri on one group of NB work-items. */
        void trtri(B l, long lo, int ldl, B x, long xo, int ldx, int kb);

        /** la_copy on a (cols/TS) × (rows/TS) grid. */
        void copy(B a, long ao, int n, int rows, int cols, B dst);

        /** la_zero_upper on an (n/TS) × (n/TS) grid. */
        void zeroUpper(B a, int n);

        /** Sets the first {@code doubles} doubles of buf to 0. */
        void zero(B buf, long doubles);
    }

    /** Doubles of the panel scratch buffers (the panel copy and T) that {@link #factor} needs for n. */
    public static long scratchDoubles(int n) {
        return Math.max(1, (long) (n - Math.min(NB, n)) * NB);
    }

    /**
     * Turns a (n×n, already reversed: J H J, as {@link InverseCholesky#inPlace} makes it) into
     * J U J, i.e. L⁻¹ with zeros above; {@code fail} (one int, zero) is set when a pivot is not
     * positive. {@code inv} holds NB² doubles, {@code panel} and {@code t}
     * {@link #scratchDoubles} each. The caller reverses before and after.
     */
    public static <B> void factor(Ops<B> ops, B a, B inv, B panel, B t, B fail, int n) {
        for (int k0 = 0; k0 < n; k0 += NB) { // InverseCholesky.choleskyLower
            int kb = Math.min(NB, n - k0);
            ops.potf2(a, n, k0, kb, fail);
            int s = k0 + kb;
            int m = n - s;
            if (m == 0) {
                break;
            }
            ops.zero(inv, (long) NB * NB);
            ops.trtri(a, (long) k0 * n + k0, n, inv, 0, kb, kb); // L11⁻¹, lower, zeros above
            ops.copy(a, (long) s * n + k0, n, m, kb, panel); // A21, read while L21 overwrites it
            // L21 = A21 · L11⁻ᵀ: B(q, c) = inv[c][q]
            ops.product(false, panel, 0, kb, 1, inv, 0, 1, kb, a, (long) s * n + k0, n, m, kb, kb, Integer.MAX_VALUE,
                    MODE_SET_ADD, false, false);
            // A22 −= L21 · L21ᵀ on the lower triangle
            long l21 = (long) s * n + k0;
            ops.product(false, a, l21, n, 1, a, l21, 1, n, a, (long) s * n + s, n, m, m, kb, Integer.MAX_VALUE,
                    MODE_SUB, true, false);
        }
        ops.zeroUpper(a, n);
        for (int j0 = (n - 1) / NB * NB; j0 >= 0; j0 -= NB) { // InverseCholesky.invertLower
            int jb = Math.min(NB, n - j0);
            int s = j0 + jb;
            int m = n - s;
            if (m > 0) { // T = X22 · L21 over chunks of KC
                ops.product(false, a, (long) s * n + s, n, 1, a, (long) s * n + j0, n, 1, t, 0, jb, m, jb, m,
                        InverseCholesky.KC, MODE_SET_ADD, false, true);
            }
            ops.trtri(a, (long) j0 * n + j0, n, a, (long) j0 * n + j0, n, jb);
            if (m > 0) { // X21 = −T · X11
                ops.product(false, t, 0, jb, 1, a, (long) j0 * n + j0, n, 1, a, (long) s * n + j0, n, m, jb, jb,
                        Integer.MAX_VALUE, MODE_SET_SUB, false, false);
            }
        }
    }

    /** h (dim×dim) += XᵀX on the lower triangle, x rows×dim floats: {@link Gram#accumulate}'s sums. */
    public static <B> void gram(Ops<B> ops, B x, int rows, int dim, B h) {
        ops.product(true, x, 0, 1, dim, x, 0, dim, 1, h, 0, dim, dim, dim, rows, Gram.ROWS, MODE_ADD, true, false);
    }

    /** Reverses a[0, count) in place: J A J of a row-major square matrix. */
    public static void reverse(double[] a, int count) {
        Parallel.forChunks(0, count / 2, 1 << 16, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                double v = a[i];
                a[i] = a[count - 1 - i];
                a[count - 1 - i] = v;
            }
        });
    }

    /** linalg.cl and dproduct.cl as OpenCL C (the device must have cl_khr_fp64). */
    public static String opencl() {
        return """
                #define KERNEL __kernel
                #define GLOBAL __global
                #define LOCAL __local
                #define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
                #define LX ((int) get_local_id(0))
                #define LY ((int) get_local_id(1))
                #define GX ((int) get_group_id(0))
                #define GY ((int) get_group_id(1))
                """ + body("linalg.cl") + body("dproduct.cl");
    }

    /** linalg.cl as CUDA C++ for NVRTC; compile with -fmad=false (no contraction, as the OpenCL pragma). */
    public static String cuda() {
        return """
                #define KERNEL extern "C" __global__
                #define GLOBAL
                #define LOCAL __shared__
                #define BARRIER() __syncthreads()
                #define LX ((int) threadIdx.x)
                #define LY ((int) threadIdx.y)
                #define GX ((int) blockIdx.x)
                #define GY ((int) blockIdx.y)
                """ + body("linalg.cl");
    }

    private static String body(String file) {
        String path = "/io/vq4j/kernels/" + file;
        try (InputStream in = LinalgKernels.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("kernel source io/vq4j/kernels/" + file + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("kernel source io/vq4j/kernels/" + file + " cannot be read: "
                    + e.getMessage());
        }
    }
}
