package io.vq4j.kernels.cuda;

import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.KernelSource;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.HostForwardOps;
import io.vq4j.kernels.cuda.CudaBackend.CuPacked;

/**
 * The forward ops on a CUDA device: vq.cl's fw_* kernels (compiled by NVRTC) and its packed matmul
 * on the backend's resident allocations, as {@code ClForwardOps} runs them on OpenCL; a row of a
 * matrix is passed as its device address. Shapes are checked as {@link HostForwardOps} checks them.
 * Not run in CI (no GPU here): its kernels compile in NvrtcTest; {@code CudaForwardOpsTest} runs
 * the parity test where a device is present.
 */
final class CudaForwardOps implements ForwardOps {
    /** vq.cl's FW_GROUP: threads per block of the row kernels; the element-wise ones use the same. */
    private static final int GROUP = 64;
    private static final int MAX_HEAD_DIM = 256;

    private final CudaBackend backend;

    CudaForwardOps(CudaBackend backend) {
        this.backend = backend;
    }

    private long at(ResidentMatrix m, int row) {
        return backend.rowPointer(m, row);
    }

    private static void rows(String op, ResidentMatrix m, int row, int rows) {
        m.checkRegion(op, row, 0, rows, m.cols());
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** groups blocks of GROUP threads. */
    private void blocks(String name, long groups, Object... args) {
        if (groups > 0) {
            backend.launchKernel(name, groups * GROUP, GROUP, args);
        }
    }

    private void elements(String name, long count, Object... args) {
        if (count > 0) {
            backend.launchKernel(name, count, GROUP, args);
        }
    }

    @Override
    public ResidentMatrix zeros(int rows, int cols) {
        return backend.zeros(rows, cols);
    }

    @Override
    public void copyRows(ResidentMatrix src, int srcRow, ResidentMatrix dst, int dstRow, int rows) {
        check(src.cols() == dst.cols(), "copyRows: " + src.cols() + " columns into " + dst.cols());
        rows("copyRows src", src, srcRow, rows);
        rows("copyRows dst", dst, dstRow, rows);
        int n = Math.multiplyExact(rows, src.cols());
        backend.call("copyRows " + rows + "x" + src.cols(), () -> elements("fw_copy", n, at(src, srcRow),
                at(dst, dstRow), n));
    }

    @Override
    public void embed(ResidentMatrix table, int[] ids, int offset, int n, ResidentMatrix out) {
        int dim = table.cols();
        check(out.cols() == dim, "embed: table of width " + dim + ", output of " + out.cols());
        rows("embed", out, 0, n);
        HostForwardOps.checkTargets(ids, offset, n, table.rows());
        if (n == 0) {
            return;
        }
        backend.call("embed " + n + "x" + dim, () -> {
            long di = backend.tempInts(ids, offset, n);
            try {
                elements("fw_embed", (long) n * dim, at(table, 0), di, dim, n, at(out, 0));
            } finally {
                backend.freeTemp(di, n);
            }
        });
    }

    @Override
    public void rmsnorm(ResidentMatrix x, int xRow, int rows, ResidentMatrix gain, float eps, ResidentMatrix out,
                        int outRow) {
        int dim = x.cols();
        check(out.cols() == dim && gain.cols() == dim, "rmsnorm: widths " + dim + ", " + gain.cols() + ", "
                + out.cols());
        rows("rmsnorm x", x, xRow, rows);
        rows("rmsnorm out", out, outRow, rows);
        backend.call("rmsnorm " + rows + "x" + dim, () -> blocks("fw_rmsnorm", rows, at(x, 0), xRow, at(gain, 0), eps,
                dim, at(out, 0), outRow));
    }

    @Override
    public void rope(ResidentMatrix a, int rows, int heads, int headDim, ResidentMatrix table, int tableRow,
                     boolean interleaved) {
        check(a.cols() == heads * headDim && table.cols() == headDim && headDim % 2 == 0,
                "rope: " + a.cols() + " columns, " + heads + " heads of " + headDim + ", table of " + table.cols());
        rows("rope", a, 0, rows);
        rows("rope table", table, tableRow, rows);
        backend.call("rope " + rows + "x" + a.cols(), () -> elements("fw_rope", (long) rows * heads * (headDim / 2),
                at(a, 0), rows, heads, headDim, at(table, 0), tableRow, interleaved ? 1 : 0));
    }

    @Override
    public void attention(ResidentMatrix q, ResidentMatrix keys, ResidentMatrix values, ResidentMatrix out, int rows,
                          int start, int heads, int kvHeads, int headDim) {
        HostForwardOps.checkAttention(q, keys, values, out, rows, start, heads, kvHeads, headDim);
        check(headDim <= MAX_HEAD_DIM, "attention: heads of " + headDim + " > " + MAX_HEAD_DIM
                + " dimensions are not supported on the device");
        float scale = (float) (1.0 / Math.sqrt(headDim));
        String what = "attention " + rows + " queries over " + (start + rows) + " positions";
        if (rows > 1) {
            // a prefill: tiled over queries, a block per head and ATTENTION_QUERIES queries (as ClForwardOps)
            int queries = KernelSource.ATTENTION_QUERIES;
            long groups = (long) heads * ((rows + queries - 1) / queries);
            backend.call(what, () -> backend.launchKernel(KernelSource.attentionKernel(headDim), groups * queries,
                    queries, at(q, 0), at(keys, 0), at(values, 0), at(out, 0), rows, start, heads, kvHeads, headDim,
                    scale));
            return;
        }
        backend.call(what, () -> blocks("fw_attention", rows * heads, at(q, 0), at(keys, 0), at(values, 0),
                at(out, 0), start, heads, kvHeads, headDim, scale));
    }

    @Override
    public void siluMul(ResidentMatrix gate, ResidentMatrix up, int rows) {
        check(gate.cols() == up.cols(), "siluMul: widths " + gate.cols() + " and " + up.cols());
        rows("siluMul gate", gate, 0, rows);
        rows("siluMul up", up, 0, rows);
        int n = Math.multiplyExact(rows, gate.cols());
        backend.call("siluMul " + rows + "x" + gate.cols(), () -> elements("fw_silu_mul", n, at(gate, 0), at(up, 0),
                n));
    }

    @Override
    public void add(ResidentMatrix x, ResidentMatrix d, int rows) {
        check(x.cols() == d.cols(), "add: widths " + x.cols() + " and " + d.cols());
        rows("add x", x, 0, rows);
        rows("add d", d, 0, rows);
        int n = Math.multiplyExact(rows, x.cols());
        backend.call("add " + rows + "x" + x.cols(), () -> elements("fw_add", n, at(x, 0), at(d, 0), n));
    }

    @Override
    public void addBias(ResidentMatrix y, int rows, ResidentMatrix bias) {
        int cols = y.cols();
        check(bias.cols() == cols, "addBias: bias of " + bias.cols() + " for " + cols + " columns");
        rows("addBias", y, 0, rows);
        int n = Math.multiplyExact(rows, cols);
        backend.call("addBias " + rows + "x" + cols, () -> elements("fw_add_bias", n, at(y, 0), at(bias, 0), cols, n));
    }

    @Override
    public void matmul(PackedWeights w, ResidentMatrix x, int rows, ResidentMatrix y) {
        HostForwardOps.checkMatmul(w, x, rows, y);
        CuPacked p = backend.cuPacked(w);
        if (rows == 0) {
            return;
        }
        int outRows = p.matrix().rows();
        boolean matvec = rows == 1; // as dequantMatmul
        int rowsPer = KernelSource.matmulRows(KernelSource.CUDA_LANES);
        long groups = matvec ? outRows
                : (long) ((outRows + rowsPer - 1) / rowsPer)
                * ((rows + KernelSource.MATMUL_TOKENS - 1) / KernelSource.MATMUL_TOKENS);
        int group = KernelSource.MATMUL_GROUP;
        backend.call("matmul " + outRows + "x" + p.matrix().cols() + " n=" + rows, () -> backend.launchPacked(p,
                matvec ? "packed_matvec" : "packed_matmul", groups * group, group, at(x, 0), rows, at(y, 0)));
    }

    @Override
    public float[] nll(ResidentMatrix logits, int rows, int[] targets, int offset) {
        int vocab = logits.cols();
        rows("nll", logits, 0, rows);
        HostForwardOps.checkTargets(targets, offset, rows, vocab);
        float[] out = new float[rows];
        if (rows == 0) {
            return out;
        }
        backend.call("nll of " + rows + "x" + vocab, () -> {
            long dt = backend.tempInts(targets, offset, rows);
            long dn = backend.tempFloats(rows);
            try {
                blocks("fw_nll", rows, at(logits, 0), vocab, dt, dn);
                backend.copyOut(dn, out, rows);
            } finally {
                backend.freeTemp(dt, rows);
                backend.freeTemp(dn, rows);
            }
        });
        return out;
    }

    @Override
    public float[] read(ResidentMatrix m, int rows) {
        rows("read", m, 0, rows);
        float[] out = new float[rows * m.cols()];
        backend.read(m, 0, 0, rows, m.cols(), out, 0, m.cols());
        return out;
    }
}
