#!/usr/bin/env python3
"""The peers of `vq bench kernels` on a CUDA GPU, timed with PyTorch in the same run.

For each case of KernelBench (4096x4096 and 14336x4096 matrices; d = 4, 8; k = 256, 4096, 65536)
it times, on the same number of vectors as vq's row:
  assign          nearest centroid, fp32: torch.cdist + argmin, and the matmul formulation
                  (|x|^2 - 2 x C^T + |c|^2, argmin); the faster of the two is the peer
  dequant-matvec  y = W x with W in fp16 (cuBLAS gemv through torch.mv): the dense fp16 baseline
  hessian-gemm    X^T X for 2048 rows, fp32 with TF32 off (cuBLAS SGEMM)
Like vq's backend calls, each timing includes copying the inputs to the GPU and the results back
(the copy is also reported alone). Medians of --repeats runs after a warm-up.

  python3 kernel_peers.py [--repeats 5] [--max-vectors 262144] > peers.json
  python3 kernel_peers.py --table vq-bench.json peers.json   # markdown: vq vs peer, ratios
"""
import argparse
import json
import statistics
import sys
import time


def cases():
    for rows, cols in ((4096, 4096), (14336, 4096)):
        for d in (4, 8):
            for k in (256, 4096, 65536):
                yield rows, cols, d, k


def vectors_timed(rows, cols, d, k, max_vectors):
    # the same cut as io.vq4j.eval.bench.KernelBench.run
    full = rows * cols // d
    n = min(full, max_vectors)
    n = int(max(1024, min(n, 2e11 / (3.0 * k * d))))
    return min(n, full), full


def timed(fn, repeats, torch):
    fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def measure(args):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    out = {"device": props.name, "torch": torch.__version__, "cuda": torch.version.cuda,
           "date": time.strftime("%Y-%m-%d"), "rows": []}
    g = torch.Generator().manual_seed(1)
    for rows, cols, d, k in cases():
        n, full = vectors_timed(rows, cols, d, k, args.max_vectors)
        shape = f"{rows}x{cols} d={d} k={k}"
        x = torch.randn(n, d, generator=g)
        c = torch.randn(k, d, generator=g)
        chunk = max(1, min(n, (1 << 28) // k))  # distance blocks of at most 2^28 floats (1 GiB)

        def cdist():
            xd = x.to(dev)
            cd = c.to(dev)
            idx = torch.cat([torch.cdist(xd[i:i + chunk], cd).argmin(dim=1) for i in range(0, n, chunk)])
            return idx.cpu()

        def matmul():
            xd = x.to(dev)
            cd = c.to(dev)
            c2 = (cd * cd).sum(dim=1)
            parts = []
            for i in range(0, n, chunk):
                xb = xd[i:i + chunk]
                dist = torch.addmm(c2.unsqueeze(0), xb, cd.t(), beta=1.0, alpha=-2.0)
                dist += (xb * xb).sum(dim=1, keepdim=True)
                parts.append(dist.argmin(dim=1))
            return torch.cat(parts).cpu()

        def copies():
            xd = x.to(dev)
            cd = c.to(dev)
            torch.cuda.synchronize()
            return xd[:1].cpu(), cd[:1].cpu()

        flops = 3.0 * n * k * d
        t_cdist = timed(cdist, args.repeats, torch)
        t_mm = timed(matmul, args.repeats, torch)
        t_copy = timed(copies, args.repeats, torch)
        best, how = min((t_cdist, "torch.cdist+argmin"), (t_mm, "matmul+argmin"))
        out["rows"].append({"kernel": "assign", "shape": shape, "vectors_timed": n, "vectors_full": full,
                            "seconds": best, "peer": how, "gflop_per_s": flops / best / 1e9,
                            "seconds_cdist": t_cdist, "seconds_matmul": t_mm, "seconds_copy_in": t_copy})
        print(f"assign {shape}: {how} {best * 1e3:.2f} ms", file=sys.stderr)
    for rows, cols, d, k in cases():
        shape = f"{rows}x{cols} d={d} k={k}"
        w = torch.randn(rows, cols, generator=g).half().to(dev)
        xv = torch.randn(cols, generator=g)

        def gemv():
            return torch.mv(w, xv.to(dev).half()).float().cpu()

        t = timed(gemv, args.repeats, torch)
        nbytes = rows * cols * 2 + 4.0 * (rows + cols)
        out["rows"].append({"kernel": "dequant-matvec", "shape": shape, "vectors_timed": rows * cols // d,
                            "vectors_full": rows * cols // d, "seconds": t, "peer": "fp16 gemv (torch.mv, cuBLAS)",
                            "gb_per_s": nbytes / t / 1e9})
    for cols in (4096, 14336):
        xm = torch.randn(2048, cols, generator=g)

        def gram():
            xd = xm.to(dev)
            return (xd.t() @ xd).cpu()

        t = timed(gram, args.repeats, torch)
        out["rows"].append({"kernel": "hessian-gemm", "shape": f"X 2048x{cols}", "vectors_timed": 2048,
                            "vectors_full": 2048, "seconds": t, "peer": "X^T X fp32, TF32 off (cuBLAS)",
                            "gflop_per_s": 2.0 * 2048 * cols * cols / t / 1e9})
    json.dump(out, sys.stdout, indent=1)
    print()


def table(vq_path, peers_path):
    vq = json.load(open(vq_path))
    peers = json.load(open(peers_path))
    peer = {(r["kernel"], r["shape"]): r for r in peers["rows"]}
    print(f"| device | kernel | shape | vectors | vq ms | vq throughput | of peak | peer | peer ms | vq / peer speed |")
    print("|---|---|---|---:|---:|---:|---:|---|---:|---:|")
    for r in vq["rows"]:
        p = peer.get((r["kernel"], r["shape"]))
        if r["device"] == "cpu" and p is not None:
            continue
        tp = f'{r["gflop_per_s"]:.0f} GFLOP/s' if "gflop_per_s" in r else f'{r["gb_per_s"]:.1f} GB/s'
        frac = f'{100 * r["fraction_of_peak"]:.1f} %' if "fraction_of_peak" in r else "-"
        if p is not None and p["vectors_timed"] != r["vectors_timed"]:
            p = None  # not the same work
        ratio = f'{p["seconds"] / r["seconds"]:.2f}x' if p else "-"
        print(f'| {r["device"]} | {r["kernel"]} | {r["shape"]} | {r["vectors_timed"]} | {r["seconds"] * 1e3:.2f} | '
              f'{tp} | {frac} | {p["peer"] if p else "-"} | {p["seconds"] * 1e3 if p else float("nan"):.2f} | {ratio} |')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-vectors", type=int, default=262144)
    ap.add_argument("--table", nargs=2, metavar=("VQ_JSON", "PEERS_JSON"))
    args = ap.parse_args()
    if args.table:
        table(*args.table)
    else:
        measure(args)


if __name__ == "__main__":
    main()
