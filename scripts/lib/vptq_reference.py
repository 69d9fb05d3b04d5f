#!/usr/bin/env python3
"""A reference for vq4j's vptq: microsoft/VPTQ's quantization algorithm (its `algorithm` branch,
vptq/vptq.py and vptq/quantizer.py, read, not copied; nothing of it is imported), written again
here in plain torch for the CPU, over a small Llama-family model, on the calibration tokens
`vq tokenize --calib-samples N --calib-len L` writes. For scripts/compare-vptq.

What VPTQ does per linear layer, as reproduced (by default no outliers, no permutation, no
residual stage, no norm: their defaults, npercent 0, enable_perm and enable_norm False; kmeans_mode
"hessian" as in their scripts; norm is never reproduced):
- H = the layer's input Gram matrix, scaled to mean diagonal 1 and + 0.01 I (their load_hessian);
  columns with H_cc = 0 would get H_cc = 1 and weight 0.
- Sub-vectors: d consecutive rows of one column (their "transpose" mode).
- One codebook per layer from k-means on the layer's sub-vectors with sample weight H_cc (the mean
  of diag H over the vector's entries, which all lie in column c). VPTQ calls cuML's KMeans with
  init="random", n_init=1, max_iter=--iters, tol=1e-5; cuML is GPU-only, so this is a CPU Lloyd
  with the same semantics: k distinct sub-vectors drawn at random (numpy, --seed; VPTQ fixes
  random_state=0) as the initial centroids, weighted means, stop at max_iter or when the
  weighted inertia changes by less than tol relative; an empty cluster keeps its centroid.
- The codebook stays fixed; a GPTQ pass, one column at a time in blocks of 128: each sub-vector of
  the column to its nearest centroid (plain Euclidean, as their torch.cdist), the error
  (w - q) / U_cc fed to the later columns through U = the upper Cholesky factor of
  (H + 0.01 mean(diag H) I)^-1 (their vptq() damping, on top of load_hessian's).
- --perm (their enable_perm): columns in the order of decreasing diag H (a stable sort), W and H
  permuted alike, the result permuted back (their init_perm / fast_vector_quant).
- --outlier-percent P (their npercent, group_num 1): the first ceil(P/100 x cols) columns of that
  order form their own segment with their own codebook of --outlier-centroids K (their
  num_centroids[0], same vector length); the rest, the main codebook (get_group_setting,
  get_index_list). VPTQ takes the first columns of whatever order it has; this driver, like vq4j,
  sorts by diag H whenever there are outliers (with P > 0 --perm is implied), which is how
  VPTQ's own configurations run outliers (enable_perm on).
- --residual-centroids K (their num_res_centroids[1], one residual stage; the outlier segment gets
  the same size, their num_res_centroids[0]): after the first pass, each column's GPTQ error (the
  weights as fed back when the column was quantized, minus their quantized value: their qerror)
  trains a residual codebook per segment with the same weighted k-means; then the GPTQ pass runs
  again from the original W with both codebooks, each sub-vector to the nearest first-stage
  centroid and its remainder to the nearest residual centroid (quantize_residual_vector).
Hessians: --hessians fp takes every layer's inputs from the unquantized model (VPTQ collects its
Hessians offline on the fp model); --hessians sequential takes them true-sequentially (earlier
layers already quantized), as vq4j does. Writes a Hugging Face directory for `vq eval ppl`.
"""
import argparse, json, math, os, shutil, sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_llama_ppl import Llama, load, rotate_half  # noqa: E402
from gptvq_reference import write_safetensors  # noqa: E402

LINS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
POINT = {"self_attn.q_proj": "attn_in", "self_attn.k_proj": "attn_in", "self_attn.v_proj": "attn_in",
         "self_attn.o_proj": "o_in", "mlp.gate_proj": "mlp_in", "mlp.up_proj": "mlp_in",
         "mlp.down_proj": "down_in"}
# true-sequential order of the groups (as gptvq_reference.py: the authors' llama.py order)
GROUPS = [["self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj"], ["self_attn.o_proj"],
          ["mlp.up_proj", "mlp.gate_proj"], ["mlp.down_proj"]]


def kmeans_random(x, wts, k, iters, tol, rng):
    """Weighted Lloyd from k distinct random points (float64 accumulation)."""
    n = x.shape[0]
    c = x[torch.from_numpy(rng.choice(n, size=k, replace=False))].clone().double()
    xd, wd = x.double(), wts.double()
    prev = None
    for _ in range(iters):
        d = torch.cdist(xd, c)
        lab = d.argmin(dim=1)
        inertia = float((wd * d.gather(1, lab[:, None]).squeeze(1) ** 2).sum())
        sw = torch.zeros(k, dtype=torch.float64).index_add_(0, lab, wd)
        s = torch.zeros_like(c).index_add_(0, lab, xd * wd[:, None])
        nz = sw > 0
        c[nz] = s[nz] / sw[nz, None]
        if prev is not None and abs(prev - inertia) <= tol * max(prev, 1e-30):
            break
        prev = inertia
    return c.float()


def gptq_pass(w, u, d, segs, blocksize=128):
    """One GPTQ pass over w (rows x cols, float64), a column at a time; segs: (from, to, [codebook per stage]).
    Returns the quantized matrix and each column's error as fed back minus quantized (their qerror)."""
    rows, cols = w.shape
    w = w.clone()
    q = torch.zeros_like(w)
    qerr = torch.zeros_like(w)
    seg_of = [next(s for s in segs if s[0] <= c < s[1]) for c in range(cols)]
    for i in range(0, cols, blocksize):
        j = min(i + blocksize, cols)
        bw = w[:, i:j].clone()
        be = torch.zeros_like(bw)
        for t in range(j - i):
            col = bw[:, t].reshape(-1, d)
            qc = torch.zeros_like(col)
            for cb in seg_of[i + t][2]:                       # stage after stage, each on what is left
                qc = qc + cb[torch.cdist(col - qc, cb).argmin(dim=1)]
            qc = qc.reshape(-1)
            q[:, i + t] = qc
            qerr[:, i + t] = bw[:, t] - qc
            e = (bw[:, t] - qc) / u[i + t, i + t]
            bw[:, t + 1:] -= e[:, None] * u[i + t, i + t + 1:j][None, :]
            be[:, t] = e
        w[:, j:] -= be @ u[i:j, j:]
    return q, qerr


def vptq_layer(w, h, d, k, iters, tol, percdamp, rng, perm=False, outlier_percent=0.0, outlier_k=0,
               residual_k=0):
    w = w.clone().double()
    h = h.clone().double()
    rows, cols = w.shape
    h /= torch.diag(h).mean()                                 # their load_hessian: mean diag 1, then + 0.01 I
    h += 0.01 * torch.eye(cols, dtype=torch.float64)
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    outliers = int(math.ceil(outlier_percent / 100.0 * cols - 1e-9)) if outlier_percent > 0 else 0
    order = None
    if perm or outliers > 0:
        order = torch.from_numpy(np.argsort(-torch.diag(h).numpy(), kind="stable").copy())
        w = w[:, order]
        h = h[order][:, order]
    diag = torch.diag(h)

    def fit(src, a, b, kk):
        vec = src[:, a:b].t().reshape(-1, d)                  # column-major: d consecutive rows of a column
        vw = diag[a:b].repeat_interleave(rows // d)           # the weight of each vector: H_cc of its column
        return kmeans_random(vec.float(), vw.float(), kk, iters, tol, rng).double()

    bounds = ([(0, outliers, outlier_k or k)] if outliers > 0 else []) + [(outliers, cols, k)]
    segs = [(a, b, [fit(w, a, b, kk)]) for a, b, kk in bounds]
    damp = percdamp * torch.mean(torch.diag(h))
    h += damp * torch.eye(cols, dtype=torch.float64)
    u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    q, qerr = gptq_pass(w, u, d, segs)
    if residual_k > 0:
        segs = [(a, b, cbs + [fit(qerr, a, b, residual_k)]) for a, b, cbs in segs]
        q, _ = gptq_pass(w, u, d, segs)
    if order is not None:
        q = q[:, torch.argsort(order)]
    return q.float()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="Hugging Face directory (vq convert)")
    ap.add_argument("--tokens", required=True, help="calibration tokens, little-endian int32 (vq tokenize --calib-samples)")
    ap.add_argument("--samples", type=int, required=True)
    ap.add_argument("--len", type=int, required=True)
    ap.add_argument("--dim", type=int, default=2)
    ap.add_argument("--centroids", type=int, default=64)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--percdamp", type=float, default=0.01)
    ap.add_argument("--hessians", default="fp", choices=["fp", "sequential"])
    ap.add_argument("--perm", action="store_true")
    ap.add_argument("--outlier-percent", type=float, default=0.0)
    ap.add_argument("--outlier-centroids", type=int, default=0, help="0: --centroids")
    ap.add_argument("--residual-centroids", type=int, default=0, help="0: no residual stage")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    cfg, w = load(a.model)
    m = Llama(cfg, w)
    ids = torch.from_numpy(np.fromfile(a.tokens, dtype="<i4").astype(np.int64))
    if len(ids) != a.samples * a.len:
        sys.exit(f"vptq_reference: {a.tokens} holds {len(ids)} tokens, not {a.samples} x {a.len}")
    T = a.len
    xs = [w["model.embed_tokens.weight"][ids[s * T:(s + 1) * T]].clone() for s in range(a.samples)]
    fp_xs = [x.clone() for x in xs]
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), m.inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf")).triu(1)

    def block(x, p, W, hook):
        h = m.norm(x, w[p + "input_layernorm.weight"])
        hook("attn_in", h)
        q = F.linear(h, W["self_attn.q_proj"]).view(T, m.nh, m.hd).transpose(0, 1)
        k = F.linear(h, W["self_attn.k_proj"]).view(T, m.nkv, m.hd).transpose(0, 1)
        v = F.linear(h, W["self_attn.v_proj"]).view(T, m.nkv, m.hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = m.nh // m.nkv
        k = k.repeat_interleave(rep, dim=0)
        v = v.repeat_interleave(rep, dim=0)
        att = torch.softmax(torch.baddbmm(mask, q, k.transpose(1, 2), alpha=1.0 / math.sqrt(m.hd)), dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, m.nh * m.hd)
        hook("o_in", o)
        x = x + F.linear(o, W["self_attn.o_proj"])
        h = m.norm(x, w[p + "post_attention_layernorm.weight"])
        hook("mlp_in", h)
        g = F.silu(F.linear(h, W["mlp.gate_proj"])) * F.linear(h, W["mlp.up_proj"])
        hook("down_in", g)
        return x + F.linear(g, W["mlp.down_proj"])

    def gram(inputs, at, p, W):
        hs = {}

        def hook(pt, inp):
            if pt == at:
                hs[0] = hs.get(0, 0) + inp.double().t() @ inp.double()
        for x in inputs:
            block(x, p, W, hook)
        return 2 * hs[0] / len(inputs)

    errors = {}
    with torch.no_grad():
        for b in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{b}."
            fpW = {n: w[p + n + ".weight"].clone() for n in LINS}
            W = dict(fpW)
            for names in GROUPS:
                if a.hessians == "fp":
                    h = gram(fp_xs, POINT[names[0]], p, fpW)
                else:
                    h = gram(xs, POINT[names[0]], p, W)
                for n in names:
                    q = vptq_layer(fpW[n], h, a.dim, a.centroids, a.iters, a.tol, a.percdamp, rng, a.perm,
                                   a.outlier_percent, a.outlier_centroids, a.residual_centroids)
                    dlt = (q - fpW[n]).double()
                    errors[p + n] = float(((dlt @ h) * dlt).sum() / ((fpW[n].double() @ h) * fpW[n].double()).sum())
                    W[n] = q
            xs = [block(x, p, W, lambda *_: None) for x in xs]
            fp_xs = [block(x, p, fpW, lambda *_: None) for x in fp_xs]
            for n in LINS:
                w[p + n + ".weight"] = W[n]
    os.makedirs(a.out, exist_ok=True)
    for f in os.listdir(a.model):
        if f.endswith(".json") and f != "model.safetensors.index.json":
            shutil.copy(os.path.join(a.model, f), os.path.join(a.out, f))
    tensors = {k: v for k, v in w.items() if not (k == "lm_head.weight" and cfg.get("tie_word_embeddings"))}
    write_safetensors(os.path.join(a.out, "model.safetensors"), tensors)
    json.dump({"relative_hessian_error": errors}, open(os.path.join(a.out, "reference-errors.json"), "w"), indent=1)
    print(json.dumps({"out": a.out, "mean_relative_hessian_error": sum(errors.values()) / len(errors)}))


if __name__ == "__main__":
    sys.exit(main())
