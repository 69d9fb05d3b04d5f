#!/usr/bin/env python3
"""The PyTorch peer of scripts/bench-block (not a test): one Llama decoder block of the given
shape, true-sequential GPTQ as in Frantar et al. (2022), written from the paper's algorithm and the
fasterquant semantics (float32; H = 2/n sum x x^T; dead columns; damping percdamp * mean(diag H);
U = upper Cholesky factor of H^-1 via cholesky, cholesky_inverse, cholesky(upper); lazy batches
of B columns; per-row asymmetric min-max grid per group of g columns, fixed at the group's first
column). One pass of the block over the calibration tokens, quantizing each linear group when the
pass reaches it (q/k/v share one H, then o, then gate/up, then down) -- the same work vq4j's
calibration driver does. Random heavy-tailed weights and inputs of the given shape.

Prints tab-separated "phase<TAB>seconds" lines and a "total" line.
Usage: torch_gptq_block.py DIM HIDDEN HEADS TOKENS SEQLEN THREADS [BITS] [GROUP] [BLOCK]
"""
import math
import sys
import time

import torch


def timed(acc, name, t0):
    acc[name] = acc.get(name, 0.0) + time.perf_counter() - t0


def rmsnorm(x, g, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


def rope(x, pos, theta=10000.0):
    # x: seq x heads x head_dim, rotating pairs (2i, 2i+1)
    hd = x.shape[-1]
    inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    ang = pos[:, None] * inv[None, :]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def gptq(w, h, bits, group, bs, percdamp, acc):
    """w: rows x cols (float32), h: cols x cols. Returns the dequantized weights."""
    w = w.clone()
    rows, cols = w.shape
    t0 = time.perf_counter()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += percdamp * torch.mean(torch.diag(h)) * torch.eye(cols)
    u = torch.linalg.cholesky(h)
    u = torch.cholesky_inverse(u)
    u = torch.linalg.cholesky(u, upper=True)
    timed(acc, "factor", t0)
    t0 = time.perf_counter()
    maxq = 2 ** bits - 1
    q_all = torch.zeros_like(w)
    scale = zero = None
    for i1 in range(0, cols, bs):
        i2 = min(i1 + bs, cols)
        w1 = w[:, i1:i2].clone()
        q1 = torch.zeros_like(w1)
        e1 = torch.zeros_like(w1)
        u1 = u[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = w1[:, i]
            if (i1 + i) % group == 0:
                if i1 + i + group > i2:  # past the block: W's later columns as the lazy updates left them
                    g = torch.cat([w1[:, i:], w[:, i2:i1 + i + group]], dim=1)
                else:
                    g = w1[:, i:i + group]
                xmin = torch.clamp(g.min(1).values, max=0)
                xmax = torch.clamp(g.max(1).values, min=0)
                scale = (xmax - xmin) / maxq
                scale[scale == 0] = 1
                zero = torch.round(-xmin / scale)
            q = torch.clamp(torch.round(col / scale) + zero, 0, maxq)
            q = scale * (q - zero)
            q1[:, i] = q
            err = (col - q) / u1[i, i]
            w1[:, i:] -= err.unsqueeze(1).matmul(u1[i, i:].unsqueeze(0))
            e1[:, i] = err
        q_all[:, i1:i2] = q1
        timed(acc, "loop.inblock", t0)
        t0 = time.perf_counter()
        w[:, i2:] -= e1.matmul(u[i1:i2, i2:])
        timed(acc, "loop.lazy", t0)
        t0 = time.perf_counter()
    return q_all


def main():
    a = sys.argv[1:]
    dim, hidden, heads, tokens, seqlen, threads = (int(v) for v in a[:6])
    bits = int(a[6]) if len(a) > 6 else 4
    group = int(a[7]) if len(a) > 7 else 128
    bs = int(a[8]) if len(a) > 8 else 128
    kv = int(a[9]) if len(a) > 9 else heads  # key/value heads (grouped-query attention below heads)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    hd = dim // heads
    nseq = tokens // seqlen

    def weight(o, i):
        g = torch.randn(o, i)
        return (g * (1 + 0.5 * g * g) * (0.5 / math.sqrt(i))).float()

    kvd = kv * hd
    lw = {n: weight(o, i) for n, o, i in [("q", dim, dim), ("k", kvd, dim), ("v", kvd, dim), ("o", dim, dim),
                                         ("gate", hidden, dim), ("up", hidden, dim), ("down", dim, hidden)]}
    g1 = torch.ones(dim)
    g2 = torch.ones(dim)
    xs = [torch.randn(seqlen, dim) for _ in range(nseq)]
    acc = {}
    t_all = time.perf_counter()

    def hessian(inputs):
        t0 = time.perf_counter()
        n = inputs[0].shape[1]
        h = torch.zeros(n, n)
        count = 0
        for x in inputs:  # fasterquant's add_batch: a running mean of 2 x x^T
            m = x.shape[0]
            h *= count / (count + m)
            count += m
            xs_ = math.sqrt(2 / count) * x
            h += xs_.t().matmul(xs_)
        timed(acc, "hessian", t0)
        return h

    def quantize(names, h):
        for n in names:
            lw[n] = gptq(lw[n], h.clone(), bits, group, bs, 0.01, acc)

    def fwd(step, t0):
        timed(acc, "forward", t0)
        return time.perf_counter()

    # one pass, quantizing each group when the pass reaches it (all sequences advance together)
    t0 = time.perf_counter()
    hn = [rmsnorm(x, g1) for x in xs]
    t0 = fwd(0, t0)
    quantize(["q", "k", "v"], hessian(hn))
    t0 = time.perf_counter()
    pos = torch.arange(seqlen, dtype=torch.float32)
    mask = torch.full((seqlen, seqlen), float("-inf")).triu(1)
    att = []
    for x in hn:
        q = rope((x @ lw["q"].t()).view(seqlen, heads, hd), pos)
        k = rope((x @ lw["k"].t()).view(seqlen, kv, hd), pos).repeat_interleave(heads // kv, dim=1)
        v = (x @ lw["v"].t()).view(seqlen, kv, hd).repeat_interleave(heads // kv, dim=1)
        s = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd) + mask
        att.append(torch.einsum("hqk,khd->qhd", torch.softmax(s, -1), v).reshape(seqlen, dim))
    t0 = fwd(1, t0)
    quantize(["o"], hessian(att))
    t0 = time.perf_counter()
    xs = [x + a @ lw["o"].t() for x, a in zip(xs, att)]
    hn = [rmsnorm(x, g2) for x in xs]
    t0 = fwd(2, t0)
    quantize(["gate", "up"], hessian(hn))
    t0 = time.perf_counter()
    mid = [torch.nn.functional.silu(x @ lw["gate"].t()) * (x @ lw["up"].t()) for x in hn]
    t0 = fwd(3, t0)
    quantize(["down"], hessian(mid))
    t0 = time.perf_counter()
    xs = [x + m @ lw["down"].t() for x, m in zip(xs, mid)]
    fwd(4, t0)
    total = time.perf_counter() - t_all
    for k in sorted(acc):
        print(f"{k}\t{acc[k]:.2f}")
    print(f"total\t{total:.2f}")
    print(f"cpu\t{time.process_time():.2f}")
    print(f"torch\t{torch.__version__}\tthreads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
