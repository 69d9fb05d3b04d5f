package io.vq4j.kernels.cpu;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.HostMatrix;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.ResidentMatrix;

import java.util.Arrays;

/**
 * The forward ops on host arrays: the reference every device's forward kernels are tested
 * against, with {@link ForwardKernels}' arithmetic (the model's host forward). It works on the
 * {@link HostMatrix} handles of the backend that made it (the CPU backend, or any backend whose
 * resident matrices are host arrays), and its matmul is that backend's dequantMatmul.
 */
public final class HostForwardOps implements ForwardOps {
    private final Backend backend;

    public HostForwardOps(Backend backend) {
        this.backend = backend;
    }

    private float[] host(ResidentMatrix m) {
        return HostMatrix.of(m, backend).values();
    }

    /** The array of a matrix the operation writes (a read-only one is refused). */
    private float[] out(ResidentMatrix m) {
        return HostMatrix.writable(m, backend).values();
    }

    private static void rows(String op, ResidentMatrix m, int row, int rows) {
        m.checkRegion(op, row, 0, rows, m.cols());
    }

    @Override
    public ResidentMatrix zeros(int rows, int cols) {
        return backend.resident(new float[Math.multiplyExact(rows, cols)], rows, cols);
    }

    @Override
    public void copyRows(ResidentMatrix src, int srcRow, ResidentMatrix dst, int dstRow, int rows) {
        check(src.cols() == dst.cols(), "copyRows: " + src.cols() + " columns into " + dst.cols());
        rows("copyRows src", src, srcRow, rows);
        rows("copyRows dst", dst, dstRow, rows);
        System.arraycopy(host(src), srcRow * src.cols(), out(dst), dstRow * dst.cols(), rows * src.cols());
    }

    @Override
    public void embed(ResidentMatrix table, int[] ids, int offset, int n, ResidentMatrix out) {
        int dim = table.cols();
        check(out.cols() == dim, "embed: table of width " + dim + ", output of " + out.cols());
        rows("embed", out, 0, n);
        float[] t = host(table);
        float[] o = out(out);
        for (int i = 0; i < n; i++) {
            int id = ids[offset + i];
            check(id >= 0 && id < table.rows(), "token id " + id + " outside the vocabulary of " + table.rows());
            System.arraycopy(t, id * dim, o, i * dim, dim);
        }
    }

    @Override
    public void rmsnorm(ResidentMatrix x, int xRow, int rows, ResidentMatrix gain, float eps, ResidentMatrix out,
                        int outRow) {
        int dim = x.cols();
        check(out.cols() == dim && gain.cols() == dim, "rmsnorm: widths " + dim + ", " + gain.cols() + ", "
                + out.cols());
        rows("rmsnorm x", x, xRow, rows);
        rows("rmsnorm out", out, outRow, rows);
        ForwardKernels.rmsnormRows(host(x), xRow * dim, host(gain), eps, out(out), outRow * dim, rows, dim);
    }

    @Override
    public void rope(ResidentMatrix a, int rows, int heads, int headDim, ResidentMatrix table, int tableRow,
                     boolean interleaved) {
        check(a.cols() == heads * headDim && table.cols() == headDim && headDim % 2 == 0,
                "rope: " + a.cols() + " columns, " + heads + " heads of " + headDim + ", table of " + table.cols());
        rows("rope", a, 0, rows);
        rows("rope table", table, tableRow, rows);
        ForwardKernels.rope(out(a), rows, heads, headDim, host(table), tableRow, interleaved);
    }

    @Override
    public void attention(ResidentMatrix q, ResidentMatrix keys, ResidentMatrix values, ResidentMatrix out, int rows,
                          int start, int heads, int kvHeads, int headDim) {
        checkAttention(q, keys, values, out, rows, start, heads, kvHeads, headDim);
        ForwardKernels.attention(host(q), host(keys), host(values), out(out), rows, start, heads, kvHeads, headDim);
    }

    /** The shape checks of an attention call, the same on every backend. */
    public static void checkAttention(ResidentMatrix q, ResidentMatrix keys, ResidentMatrix values,
                                      ResidentMatrix out, int rows, int start, int heads, int kvHeads, int headDim) {
        check(heads > 0 && kvHeads > 0 && heads % kvHeads == 0, "attention: " + heads + " heads over " + kvHeads
                + " kv heads");
        check(q.cols() == heads * headDim && out.cols() == q.cols(), "attention: q of " + q.cols() + ", out of "
                + out.cols() + " columns for " + heads + " heads of " + headDim);
        check(keys.cols() == kvHeads * headDim && values.cols() == keys.cols(), "attention: keys of " + keys.cols()
                + ", values of " + values.cols() + " columns for " + kvHeads + " kv heads of " + headDim);
        check(start >= 0, "attention: start " + start);
        q.checkRegion("attention q", 0, 0, rows, q.cols());
        out.checkRegion("attention out", 0, 0, rows, out.cols());
        keys.checkRegion("attention keys", 0, 0, start + rows, keys.cols());
        values.checkRegion("attention values", 0, 0, start + rows, values.cols());
    }

    @Override
    public void siluMul(ResidentMatrix gate, ResidentMatrix up, int rows) {
        check(gate.cols() == up.cols(), "siluMul: widths " + gate.cols() + " and " + up.cols());
        rows("siluMul gate", gate, 0, rows);
        rows("siluMul up", up, 0, rows);
        ForwardKernels.swiglu(out(gate), host(up), rows * gate.cols());
    }

    @Override
    public void add(ResidentMatrix x, ResidentMatrix d, int rows) {
        check(x.cols() == d.cols(), "add: widths " + x.cols() + " and " + d.cols());
        rows("add x", x, 0, rows);
        rows("add d", d, 0, rows);
        ForwardKernels.addInPlace(out(x), host(d), rows * x.cols());
    }

    @Override
    public void addBias(ResidentMatrix y, int rows, ResidentMatrix bias) {
        int cols = y.cols();
        check(bias.cols() == cols, "addBias: bias of " + bias.cols() + " for " + cols + " columns");
        rows("addBias", y, 0, rows);
        float[] h = out(y);
        float[] b = host(bias);
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < cols; o++) {
                h[r * cols + o] += b[o];
            }
        }
    }

    @Override
    public void matmul(PackedWeights w, ResidentMatrix x, int rows, ResidentMatrix y) {
        checkMatmul(w, x, rows, y);
        backend.dequantMatmul(w, host(x), rows, out(y)); // the arrays may hold more rows: it reads and writes the first
    }

    /** The shape checks of a matmul call, the same on every backend. */
    public static void checkMatmul(PackedWeights w, ResidentMatrix x, int rows, ResidentMatrix y) {
        check(x.cols() == w.matrix().cols() && y.cols() == w.matrix().rows(), "matmul: " + w.matrix().rows() + "x"
                + w.matrix().cols() + " weights, x of " + x.cols() + ", y of " + y.cols() + " columns");
        x.checkRegion("matmul x", 0, 0, rows, x.cols());
        y.checkRegion("matmul y", 0, 0, rows, y.cols());
    }

    @Override
    public float[] nll(ResidentMatrix logits, int rows, int[] targets, int offset) {
        int vocab = logits.cols();
        rows("nll", logits, 0, rows);
        checkTargets(targets, offset, rows, vocab);
        float[] l = host(logits);
        float[] out = new float[rows];
        for (int r = 0; r < rows; r++) {
            out[r] = (float) ForwardKernels.negLogSoftmax(l, r * vocab, vocab, targets[offset + r]);
        }
        return out;
    }

    /** Refuses a target outside [0, vocab). */
    public static void checkTargets(int[] ids, int offset, int n, int vocab) {
        for (int i = 0; i < n; i++) {
            int id = ids[offset + i];
            check(id >= 0 && id < vocab, "token id " + id + " outside the vocabulary of " + vocab);
        }
    }

    @Override
    public float[] read(ResidentMatrix m, int rows) {
        rows("read", m, 0, rows);
        return Arrays.copyOf(host(m), rows * m.cols());
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
