#!/usr/bin/env python3
"""Runs the GPTVQ authors' released code (Qualcomm-AI-research/gptvq, a checkout given with
--ref, used unmodified and never copied into this project) true-sequentially over a small
Llama-family model, on the calibration tokens `vq tokenize --calib-samples N --calib-len L`
writes (the ones `vq quantize` uses), and writes the quantized model as a Hugging Face
directory that `vq eval ppl` evaluates like any other. For scripts/compare-gptvq.

The driver is this project's own: the block forward is scripts/lib/torch_llama_ppl.py's
(the same arithmetic as `vq eval ppl`), and the order of sub-layers follows the authors'
llama.py with --true-sequential: [k, v, q], [o], [up, gate], [down]; each group's inputs come
from the block with the earlier groups already quantized, and the next block's inputs from
the quantized block. Their GPTQ class is fed one calibration sequence per add_batch call, as
their llama.py's forward hooks do.
"""
import argparse, json, math, os, shutil, struct, sys, types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_llama_ppl import Llama, load, rotate_half  # noqa: E402


def import_reference(ref):
    # their gptq.py imports transformers only for isinstance(layer, transformers.Conv1D);
    # Debian's torch has no transformers, so a module with a Conv1D class that nothing is stands in
    if "transformers" not in sys.modules:
        shim = types.ModuleType("transformers")

        class Conv1D:  # never instantiated
            pass

        shim.Conv1D = Conv1D
        sys.modules["transformers"] = shim
    # fasterquant calls torch.cuda.synchronize() and free() torch.cuda.empty_cache(): no-ops on the CPU
    if not torch.cuda.is_available():
        torch.cuda.synchronize = lambda *_, **__: None
        torch.cuda.empty_cache = lambda *_, **__: None
    sys.path.insert(0, ref)
    import gptq as ref_gptq  # noqa: E402
    import vq_quant as ref_vq  # noqa: E402
    return ref_gptq, ref_vq


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().contiguous().numpy().astype("<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True, help="a checkout of Qualcomm-AI-research/gptvq")
    ap.add_argument("--model", required=True, help="Hugging Face directory (vq convert)")
    ap.add_argument("--tokens", required=True, help="calibration tokens, little-endian int32 (vq tokenize --calib-samples)")
    ap.add_argument("--samples", type=int, required=True)
    ap.add_argument("--len", type=int, required=True)
    ap.add_argument("--dim", type=int, default=2)
    ap.add_argument("--centroids", type=int, default=64)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--init", default="mahalanobis", choices=["mahalanobis", "kpp"])
    ap.add_argument("--hessian-weighted-lookups", action="store_true")
    ap.add_argument("--include-m-step", action="store_true")
    ap.add_argument("--percdamp", type=float, default=0.01)
    ap.add_argument("--blocksize", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    ref_gptq, ref_vq = import_reference(a.ref)

    cfg, w = load(a.model)
    m = Llama(cfg, w)
    ids = torch.from_numpy(np.fromfile(a.tokens, dtype="<i4").astype(np.int64))
    if len(ids) != a.samples * a.len:
        sys.exit(f"gptvq_reference: {a.tokens} holds {len(ids)} tokens, not {a.samples} x {a.len}")
    T = a.len
    xs = [w["model.embed_tokens.weight"][ids[s * T:(s + 1) * T]].clone() for s in range(a.samples)]
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), m.inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf")).triu(1)
    wbits = math.log2(a.centroids) / a.dim
    errors = {}

    def block(x, p, lins, hook):
        h = m.norm(x, w[p + "input_layernorm.weight"])
        hook("attn_in", h)
        q = lins["self_attn.q_proj"](h).view(T, m.nh, m.hd).transpose(0, 1)
        k = lins["self_attn.k_proj"](h).view(T, m.nkv, m.hd).transpose(0, 1)
        v = lins["self_attn.v_proj"](h).view(T, m.nkv, m.hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = m.nh // m.nkv
        k = k.repeat_interleave(rep, dim=0)
        v = v.repeat_interleave(rep, dim=0)
        att = torch.softmax(torch.baddbmm(mask, q, k.transpose(1, 2), alpha=1.0 / math.sqrt(m.hd)), dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, m.nh * m.hd)
        hook("o_in", o)
        x = x + lins["self_attn.o_proj"](o)
        h = m.norm(x, w[p + "post_attention_layernorm.weight"])
        hook("mlp_in", h)
        g = F.silu(lins["mlp.gate_proj"](h)) * lins["mlp.up_proj"](h)
        hook("down_in", g)
        return x + lins["mlp.down_proj"](g)

    groups = [(["self_attn.k_proj", "self_attn.v_proj", "self_attn.q_proj"], "attn_in"),
              (["self_attn.o_proj"], "o_in"), (["mlp.up_proj", "mlp.gate_proj"], "mlp_in"),
              (["mlp.down_proj"], "down_in")]
    with torch.no_grad():
        for b in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{b}."
            lins = {}
            for names, _ in groups:
                for n in names:
                    wt = w[p + n + ".weight"]
                    lin = nn.Linear(wt.shape[1], wt.shape[0], bias=False)
                    lin.weight.data = wt.clone()
                    lins[n] = lin
            for names, point in groups:
                gq = {}
                for n in names:
                    gq[n] = ref_gptq.GPTQ(lins[n])
                    # one codebook per layer: a group of rows x cols weights spanning all columns, given as
                    # their llama.py's --columns-per-group COLS --groupsize ROWS*COLS
                    q = ref_vq.VQQuantizer(vq_dim=a.dim, columns_per_group=lins[n].weight.shape[1],
                                           kmeans_init_method=a.init, kmeans_iters=a.iters)
                    q.configure(wbits)
                    gq[n].quantizer = q

                def hook(at, inp, names=names, point=point, gq=gq):
                    if at == point:
                        for n in names:
                            gq[n].add_batch(inp.unsqueeze(0), None)

                for s in range(a.samples):
                    block(xs[s], p, lins, hook)
                for n in names:
                    rows, cols = lins[n].weight.shape
                    h = gq[n].H.clone()
                    w0 = lins[n].weight.data.clone()
                    gq[n].fasterquant(blocksize=a.blocksize, percdamp=a.percdamp, groupsize=rows * cols,
                                      use_vq=True, include_m_step=a.include_m_step,
                                      hessian_weighted_lookups=a.hessian_weighted_lookups)
                    d = lins[n].weight.data - w0
                    errors[p + n] = float(((d @ h) * d).sum() / ((w0 @ h) * w0).sum())
                    gq[n].free()
            xs = [block(x, p, lins, lambda *_: None) for x in xs]
            for n, lin in lins.items():
                w[p + n + ".weight"] = lin.weight.data.clone()

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
