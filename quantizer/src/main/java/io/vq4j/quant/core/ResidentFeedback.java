package io.vq4j.quant.core;

import io.vq4j.core.Phases;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.HostMatrix;
import io.vq4j.kernels.ResidentMatrix;

/**
 * The matrices of GPTQ's error feedback that the backend holds for the whole layer (issue 16):
 * W and the block's errors E. W goes to the backend once; the in-block step
 * ({@link Backend#gptqBlock}, {@link Backend#gptvqBlock}) reads and writes them there, and each block of B columns costs the
 * host only the block's slice of U (in double), its codes and grids, and the block's rows of U
 * (as floats, for the lazy update) — O(rows·cols + cols²) values per layer in all.
 * W[:, i2:] −= Err · U[i1:i2, i2:] is one gemm on sub-matrices of the resident W, in place. On
 * the CPU backend the resident W is the caller's array, so nothing of W is copied at all; the
 * product is the array gemm's kernel on views, so every element has the bits of
 * {@link ErrorFeedback#lazyUpdate}'s result.
 */
public final class ResidentFeedback implements AutoCloseable {
    private final Backend backend;
    private final int rows;
    private final int cols;
    private final int bs;
    private final ResidentMatrix w;
    private final ResidentMatrix err;
    private final ResidentMatrix panel;
    private final float[] panelHost;

    /**
     * @param w  rows × cols, taken over: the CPU backend updates this array in place, a GPU backend
     *           its own copy
     * @param bs the block width B
     */
    public ResidentFeedback(Backend backend, float[] w, int rows, int cols, int bs) {
        this.backend = backend;
        this.rows = rows;
        this.cols = cols;
        this.bs = bs;
        ResidentMatrix rw = null, re = null;
        try {
            rw = backend.resident(w, rows, cols);
            re = backend.resident(new float[rows * bs], rows, bs);
            this.panelHost = new float[bs * cols];
            this.panel = backend.resident(new float[bs * cols], bs, cols);
        } catch (RuntimeException e) {
            if (re != null) {
                re.close();
            }
            if (rw != null) {
                rw.close();
            }
            throw e;
        }
        this.w = rw;
        this.err = re;
    }

    /** The resident W (rows × cols), for the backend's in-block step. */
    public ResidentMatrix weights() {
        return w;
    }

    /**
     * Brings W's columns [c0, c1) as they are now into {@code host} (rows × cols, the array this was
     * made from), for host work on the current weights (gptvq's scales and codebooks where a column
     * group starts). Nothing is copied where the resident W is that array (the CPU backend).
     */
    public void current(float[] host, int c0, int c1) {
        if (c1 <= c0 || w instanceof HostMatrix h && h.values() == host) {
            return;
        }
        long t = Phases.start();
        backend.read(w, 0, c0, rows, c1 - c0, host, c0, cols);
        Phases.stop("feedback.copies", t);
    }

    /** The resident errors (rows × B) the in-block step writes and {@link #update} reads. */
    public ResidentMatrix errors() {
        return err;
    }

    /**
     * W[:, i2:] −= Err · U[i1:i2, i2:] with Err the block's scaled errors as the in-block step left
     * them in {@link #errors()} (rows × (i2 − i1) of it) and u the cols × cols factor (its rows
     * i1..i2 are rounded to float, as the array update rounds them).
     */
    public void update(double[] u, int i1, int i2) {
        int rest = cols - i2;
        int width = i2 - i1;
        if (rest == 0 || width == 0) {
            return;
        }
        long t = Phases.start();
        for (int a = 0; a < width; a++) {
            int from = (i1 + a) * cols + i2;
            int to = a * cols + i2;
            for (int b = 0; b < rest; b++) {
                panelHost[to + b] = (float) u[from + b];
            }
        }
        backend.write(panel, 0, i2, width, rest, panelHost, i2, cols);
        Phases.stop("feedback.copies", t);
        t = Phases.start();
        backend.gemm(false, false, rows, rest, width, -1f, this.err, 0, 0, panel, 0, i2, 1f, w, 0, i2);
        Phases.stop("feedback.gemm", t);
    }

    /** The block width this was made for. */
    public int blockSize() {
        return bs;
    }

    @Override
    public void close() {
        panel.close();
        err.close();
        w.close();
    }
}
