package io.vq4j.kernels.cuda;

import io.vq4j.kernels.linalg.LinalgKernels;

/**
 * {@link LinalgKernels.Ops} in CUDA's terms: each kernel of linalg.cl as a grid of blocks of threads
 * with its arguments, as OpenClLinalg launches it on OpenCL (there: global work-items = grid × block).
 * B is a device pointer; a Long argument is 8 bytes (a pointer or a long offset), an Integer 4.
 * Kept apart from the driver so that CudaLinalgOpsTest can replay the launches on an OpenCL device
 * (PoCL) and check the geometry and the arguments without a GPU.
 */
final class CudaLinalgOps implements LinalgKernels.Ops<Long> {
    /** One launch: kernel on gridX × gridY blocks of blockX × blockY threads. */
    record Launch(String kernel, int gridX, int gridY, int blockX, int blockY, Object... args) {
    }

    /** Where the launches go, in order. */
    interface Target {
        void launch(Launch l);

        /** Sets {@code bytes} bytes at device address p to 0. */
        void zero(long p, long bytes);
    }

    private final Target target;

    CudaLinalgOps(Target target) {
        this.target = target;
    }

    /** Blocks of {@code per} covering v. */
    static int blocks(long v, int per) {
        long b = (v + per - 1) / per;
        if (b > 65535) { // a y dimension's limit; the x one is larger, but no matrix here needs more
            throw new IllegalStateException(v + " elements need " + b + " blocks, more than a grid dimension holds");
        }
        return (int) b;
    }

    @Override
    public void product(boolean floats, Long a, long ao, int ais, int aqs, Long b, long bo, int bqs, int bjs, Long c,
                        long co, int ldc, int mi, int nj, int kq, int kc, int mode, boolean lower, boolean triA) {
        if (mi == 0 || nj == 0) {
            return;
        }
        target.launch(new Launch(floats ? LinalgKernels.PRODUCT_F : LinalgKernels.PRODUCT_D,
                blocks(nj, LinalgKernels.PRODUCT_TILE), blocks(mi, LinalgKernels.PRODUCT_TILE), LinalgKernels.TS,
                LinalgKernels.TS, a, ao, ais, aqs, b, bo, bqs, bjs, c, co, ldc, mi, nj, kq, kc, mode, lower ? 1 : 0,
                triA ? 1 : 0));
    }

    @Override
    public void potf2(Long a, int n, int k0, int kb, Long fail) {
        target.launch(new Launch(LinalgKernels.POTF2, 1, 1, LinalgKernels.NB, 1, a, n, k0, kb, fail));
    }

    @Override
    public void trtri(Long l, long lo, int ldl, Long x, long xo, int ldx, int kb) {
        target.launch(new Launch(LinalgKernels.TRTRI, 1, 1, LinalgKernels.NB, 1, l, lo, ldl, x, xo, ldx, kb));
    }

    @Override
    public void copy(Long a, long ao, int n, int rows, int cols, Long dst) {
        target.launch(new Launch(LinalgKernels.COPY, blocks(cols, LinalgKernels.TS), blocks(rows, LinalgKernels.TS),
                LinalgKernels.TS, LinalgKernels.TS, a, ao, n, rows, cols, dst));
    }

    @Override
    public void zeroUpper(Long a, int n) {
        target.launch(new Launch(LinalgKernels.ZERO_UPPER, blocks(n, LinalgKernels.TS), blocks(n, LinalgKernels.TS),
                LinalgKernels.TS, LinalgKernels.TS, a, n));
    }

    @Override
    public void zero(Long buf, long doubles) {
        target.zero(buf, doubles * Double.BYTES);
    }
}
