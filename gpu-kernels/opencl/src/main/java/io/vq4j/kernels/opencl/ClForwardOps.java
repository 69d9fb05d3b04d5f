package io.vq4j.kernels.opencl;

import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.KernelSource;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.ResidentMatrix;
import io.vq4j.kernels.cpu.HostForwardOps;
import io.vq4j.kernels.opencl.OpenClBackend.ClMatrix;
import io.vq4j.kernels.opencl.OpenClBackend.ClPacked;
import org.jocl.CL;
import org.jocl.CLException;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;

/**
 * The forward ops on an OpenCL device: vq.cl's fw_* kernels and its packed matmul on the
 * backend's resident buffers, in order on the device's in-order queue; the host waits only where
 * it reads (nll, read). Shapes are checked as {@link HostForwardOps} checks them.
 */
final class ClForwardOps implements ForwardOps {
    /** Work-items per work-group of the row kernels (vq.cl's FW_GROUP) and of the element-wise ones. */
    private static final int GROUP = 64;
    /** vq.cl's FW_MAX_HD: the widest head the attention kernel holds in registers. */
    private static final int MAX_HEAD_DIM = 256;

    private final OpenClBackend backend;
    private final OpenCl.Device device;
    /**
     * RMSNorm with a work-item per row (fw_rmsnorm_rows) instead of a work-group: on CPU devices,
     * where barriers cost more than a short row (on PoCL, 256 rows at dim 64: 1.4 ms against 2.5).
     */
    private final boolean rowPerItem;

    ClForwardOps(OpenClBackend backend, OpenCl.Device device, boolean rowPerItem) {
        this.backend = backend;
        this.device = device;
        this.rowPerItem = rowPerItem;
    }

    private ClMatrix m(ResidentMatrix r) {
        return backend.clMatrix(r);
    }

    private static void rows(String op, ResidentMatrix m, int row, int rows) {
        m.checkRegion(op, row, 0, rows, m.cols());
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /** A kernel launch: arguments in order, then {@link #run}. */
    private final class Launch {
        final cl_kernel kn;
        int a;

        Launch(String name) {
            kn = device.kernel(name);
        }

        Launch mem(cl_mem m) {
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(m));
            return this;
        }

        Launch i(int v) {
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{v}));
            return this;
        }

        Launch f(float v) {
            CL.clSetKernelArg(kn, a++, Sizeof.cl_float, Pointer.to(new float[]{v}));
            return this;
        }

        /** groups work-groups of GROUP work-items. */
        void run(long groups) {
            run(groups, GROUP);
        }

        /** groups work-groups of size work-items. */
        void run(long groups, int size) {
            if (groups > 0) {
                CL.clEnqueueNDRangeKernel(device.queue, kn, 1, null, new long[]{groups * size}, new long[]{size}, 0,
                        null, null);
            }
        }

        /** One work-item per element of count, in work-groups of GROUP. */
        void elements(long count) {
            run((count + GROUP - 1) / GROUP);
        }
    }

    private interface Body {
        void run();
    }

    private void call(String what, Body body) {
        synchronized (device) {
            try {
                body.run();
            } catch (CLException e) {
                throw backend.clFailure(what, e);
            }
        }
    }

    /** A temporary int buffer of ids[offset, offset + n), counted while it lives. */
    private cl_mem ints(int[] ids, int offset, int n) {
        return backend.tempInts(ids, offset, n);
    }

    @Override
    public ResidentMatrix zeros(int rows, int cols) {
        return backend.zeros(rows, cols);
    }

    @Override
    public void copyRows(ResidentMatrix src, int srcRow, ResidentMatrix dst, int dstRow, int rows) {
        check(src.cols() == dst.cols(), "copyRows: " + src.cols() + " columns into " + dst.cols());
        ClMatrix s = m(src), d = m(dst);
        rows("copyRows src", src, srcRow, rows);
        rows("copyRows dst", dst, dstRow, rows);
        if (rows == 0 || src.cols() == 0) {
            return;
        }
        long f = Sizeof.cl_float;
        call("copyRows " + rows + "x" + src.cols(), () -> CL.clEnqueueCopyBuffer(device.queue, s.mem, d.mem,
                (long) srcRow * src.cols() * f, (long) dstRow * dst.cols() * f, (long) rows * src.cols() * f, 0, null,
                null));
    }

    @Override
    public void embed(ResidentMatrix table, int[] ids, int offset, int n, ResidentMatrix out) {
        int dim = table.cols();
        check(out.cols() == dim, "embed: table of width " + dim + ", output of " + out.cols());
        rows("embed", out, 0, n);
        HostForwardOps.checkTargets(ids, offset, n, table.rows());
        ClMatrix t = m(table), o = m(out);
        if (n == 0) {
            return;
        }
        call("embed " + n + "x" + dim, () -> {
            cl_mem di = ints(ids, offset, n);
            try {
                new Launch("fw_embed").mem(t.mem).mem(di).i(dim).i(n).mem(o.mem).elements((long) n * dim);
            } finally {
                backend.releaseTemp(di, n);
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
        ClMatrix dx = m(x), dg = m(gain), dout = m(out);
        if (rowPerItem) {
            call("rmsnorm " + rows + "x" + dim, () -> new Launch("fw_rmsnorm_rows").mem(dx.mem).i(xRow).mem(dg.mem)
                    .f(eps).i(dim).mem(dout.mem).i(outRow).i(rows).elements(rows));
            return;
        }
        call("rmsnorm " + rows + "x" + dim, () -> new Launch("fw_rmsnorm").mem(dx.mem).i(xRow).mem(dg.mem).f(eps)
                .i(dim).mem(dout.mem).i(outRow).run(rows));
    }

    @Override
    public void rope(ResidentMatrix a, int rows, int heads, int headDim, ResidentMatrix table, int tableRow,
                     boolean interleaved) {
        check(a.cols() == heads * headDim && table.cols() == headDim && headDim % 2 == 0,
                "rope: " + a.cols() + " columns, " + heads + " heads of " + headDim + ", table of " + table.cols());
        rows("rope", a, 0, rows);
        rows("rope table", table, tableRow, rows);
        ClMatrix da = m(a), dt = m(table);
        call("rope " + rows + "x" + a.cols(), () -> new Launch("fw_rope").mem(da.mem).i(rows).i(heads).i(headDim)
                .mem(dt.mem).i(tableRow).i(interleaved ? 1 : 0).elements((long) rows * heads * (headDim / 2)));
    }

    @Override
    public void attention(ResidentMatrix q, ResidentMatrix keys, ResidentMatrix values, ResidentMatrix out, int rows,
                          int start, int heads, int kvHeads, int headDim) {
        HostForwardOps.checkAttention(q, keys, values, out, rows, start, heads, kvHeads, headDim);
        check(headDim <= MAX_HEAD_DIM, "attention: heads of " + headDim + " > " + MAX_HEAD_DIM
                + " dimensions are not supported on the device");
        attention(q, keys, values, out, rows, start, heads, kvHeads, headDim, rows > 1);
    }

    /**
     * The attention kernels: tiled over queries (fw_attention_tiled, a work-group per head and
     * block of queries) for a prefill, or a work-group per (query, head) splitting the positions
     * (fw_attention), decode's fast path: one query has nothing to tile.
     */
    void attention(ResidentMatrix q, ResidentMatrix keys, ResidentMatrix values, ResidentMatrix out, int rows,
                   int start, int heads, int kvHeads, int headDim, boolean tiled) {
        ClMatrix dq = m(q), dk = m(keys), dv = m(values), dout = m(out);
        float scale = (float) (1.0 / Math.sqrt(headDim));
        String what = "attention " + rows + " queries over " + (start + rows) + " positions";
        if (tiled) {
            int queries = KernelSource.ATTENTION_QUERIES;
            long groups = (long) heads * ((rows + queries - 1) / queries);
            call(what, () -> new Launch(KernelSource.attentionKernel(headDim)).mem(dq.mem).mem(dk.mem).mem(dv.mem)
                    .mem(dout.mem).i(rows).i(start).i(heads).i(kvHeads).i(headDim).f(scale).run(groups, queries));
            return;
        }
        call(what, () -> new Launch("fw_attention").mem(dq.mem).mem(dk.mem).mem(dv.mem).mem(dout.mem).i(start)
                .i(heads).i(kvHeads).i(headDim).f(scale).run((long) rows * heads));
    }

    @Override
    public void siluMul(ResidentMatrix gate, ResidentMatrix up, int rows) {
        check(gate.cols() == up.cols(), "siluMul: widths " + gate.cols() + " and " + up.cols());
        rows("siluMul gate", gate, 0, rows);
        rows("siluMul up", up, 0, rows);
        ClMatrix g = m(gate), u = m(up);
        int n = Math.multiplyExact(rows, gate.cols());
        call("siluMul " + rows + "x" + gate.cols(), () -> new Launch("fw_silu_mul").mem(g.mem).mem(u.mem).i(n)
                .elements(n));
    }

    @Override
    public void add(ResidentMatrix x, ResidentMatrix d, int rows) {
        check(x.cols() == d.cols(), "add: widths " + x.cols() + " and " + d.cols());
        rows("add x", x, 0, rows);
        rows("add d", d, 0, rows);
        ClMatrix dx = m(x), dd = m(d);
        int n = Math.multiplyExact(rows, x.cols());
        call("add " + rows + "x" + x.cols(), () -> new Launch("fw_add").mem(dx.mem).mem(dd.mem).i(n).elements(n));
    }

    @Override
    public void addBias(ResidentMatrix y, int rows, ResidentMatrix bias) {
        int cols = y.cols();
        check(bias.cols() == cols, "addBias: bias of " + bias.cols() + " for " + cols + " columns");
        rows("addBias", y, 0, rows);
        ClMatrix dy = m(y), db = m(bias);
        int n = Math.multiplyExact(rows, cols);
        call("addBias " + rows + "x" + cols, () -> new Launch("fw_add_bias").mem(dy.mem).mem(db.mem).i(cols).i(n)
                .elements(n));
    }

    @Override
    public void matmul(PackedWeights w, ResidentMatrix x, int rows, ResidentMatrix y) {
        HostForwardOps.checkMatmul(w, x, rows, y);
        ClPacked p = backend.clPacked(w);
        ClMatrix dx = m(x), dy = m(y);
        if (rows == 0) {
            return;
        }
        int outRows = p.matrix().rows();
        // the batched kernel (PackedReference's bits) unless the call is one matrix-vector product, as dequantMatmul
        boolean matvec = rows == 1;
        int rowsPer = KernelSource.matmulRows(KernelSource.OPENCL_LANES);
        call("matmul " + outRows + "x" + p.matrix().cols() + " n=" + rows, () -> {
            cl_kernel kn = device.kernel(matvec ? "packed_matvec" : "packed_matmul");
            int a = p.setArgs(kn);
            CL.clSetKernelArg(kn, a++, Sizeof.cl_mem, Pointer.to(dx.mem));
            CL.clSetKernelArg(kn, a++, Sizeof.cl_int, Pointer.to(new int[]{rows}));
            CL.clSetKernelArg(kn, a, Sizeof.cl_mem, Pointer.to(dy.mem));
            long groups = matvec ? outRows
                    : (long) ((outRows + rowsPer - 1) / rowsPer)
                    * ((rows + KernelSource.MATMUL_TOKENS - 1) / KernelSource.MATMUL_TOKENS);
            int group = KernelSource.MATMUL_GROUP;
            CL.clEnqueueNDRangeKernel(device.queue, kn, 1, null, new long[]{groups * group}, new long[]{group}, 0,
                    null, null);
        });
    }

    @Override
    public float[] nll(ResidentMatrix logits, int rows, int[] targets, int offset) {
        int vocab = logits.cols();
        rows("nll", logits, 0, rows);
        HostForwardOps.checkTargets(targets, offset, rows, vocab);
        ClMatrix dl = m(logits);
        float[] out = new float[rows];
        if (rows == 0) {
            return out;
        }
        call("nll of " + rows + "x" + vocab, () -> {
            cl_mem dt = ints(targets, offset, rows);
            cl_mem dn = backend.tempFloats(rows);
            try {
                new Launch("fw_nll").mem(dl.mem).i(vocab).mem(dt).mem(dn).run(rows);
                CL.clEnqueueReadBuffer(device.queue, dn, true, 0, (long) rows * Sizeof.cl_float, Pointer.to(out), 0,
                        null, null);
            } finally {
                backend.releaseTemp(dt, rows);
                backend.releaseTemp(dn, rows);
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
