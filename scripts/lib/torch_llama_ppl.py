#!/usr/bin/env python3
"""PyTorch peer for scripts/bench-forward: the same Llama-family forward pass and the same
perplexity method as `vq eval ppl`, on the same token ids, on the CPU.

Reads a Hugging Face directory (config.json + model.safetensors or shards with an index)
with a small safetensors parser (json + numpy; no extra packages), and token ids from a
little-endian int32 file written by `vq tokenize`. Prints one JSON object.
"""
import argparse, json, math, os, struct, sys, time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": np.uint16}


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        arr = raw[base + b: base + e].view(DTYPES[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = torch.from_numpy(np.array(arr, dtype=np.float32))  # an owned, writable copy
    return out


def load(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for f in files:
        w.update(read_safetensors(os.path.join(model_dir, f)))
    return cfg, w


def inv_freq(cfg, head_dim):
    theta = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old / lo, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        mid = (1 - smooth) * scaled / factor + smooth * scaled
        is_mid = (wavelen <= old / lo) & (wavelen >= old / hi)
        inv = torch.where(is_mid, mid, scaled)
    return inv.float()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Llama:
    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.dim = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads", self.nh)
        self.hd = cfg.get("head_dim") or self.dim // self.nh
        self.eps = cfg.get("rms_norm_eps", 1e-5)
        self.inv_freq = inv_freq(cfg, self.hd)
        self.lm_head = w.get("lm_head.weight", w["model.embed_tokens.weight"])

    def norm(self, x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * g

    def lin(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias"))

    def forward(self, ids):
        T = ids.shape[0]
        x = self.w["model.embed_tokens.weight"][ids]
        freqs = torch.outer(torch.arange(T, dtype=torch.float32), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        for l in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            h = self.norm(x, self.w[p + "input_layernorm.weight"])
            q = self.lin(h, p + "self_attn.q_proj").view(T, self.nh, self.hd).transpose(0, 1)
            k = self.lin(h, p + "self_attn.k_proj").view(T, self.nkv, self.hd).transpose(0, 1)
            v = self.lin(h, p + "self_attn.v_proj").view(T, self.nkv, self.hd).transpose(0, 1)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            rep = self.nh // self.nkv
            k = k.repeat_interleave(rep, dim=0)
            v = v.repeat_interleave(rep, dim=0)
            # scale folded into baddbmm and the causal mask added in the same call: the
            # cheapest eager formulation torch 1.13 offers (it has no fused SDPA kernel)
            att = torch.softmax(torch.baddbmm(mask, q, k.transpose(1, 2), alpha=1.0 / math.sqrt(self.hd)), dim=-1)
            o = (att @ v).transpose(0, 1).reshape(T, self.nh * self.hd)
            x = x + self.lin(o, p + "self_attn.o_proj")
            h = self.norm(x, self.w[p + "post_attention_layernorm.weight"])
            g = F.silu(self.lin(h, p + "mlp.gate_proj")) * self.lin(h, p + "mlp.up_proj")
            x = x + self.lin(g, p + "mlp.down_proj")
        x = self.norm(x, self.w["model.norm.weight"])
        return F.linear(x, self.lm_head)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help="little-endian int32 token ids")
    ap.add_argument("--ctx", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg, w = load(a.model)
    model = Llama(cfg, w)
    ids = torch.from_numpy(np.fromfile(a.tokens, dtype="<i4").astype(np.int64))
    ctx = a.ctx or cfg["max_position_embeddings"]
    runs = []
    with torch.inference_mode():
        model.forward(ids[: min(ctx, len(ids))])  # warm-up, as the JVM gets its JIT warm-up
        for _ in range(a.repeats):
            nll_sum, n_pred, seconds = 0.0, 0, 0.0
            for s in range(0, len(ids), ctx):
                win = ids[s: s + ctx]
                t0 = time.perf_counter()
                logits = model.forward(win)
                seconds += time.perf_counter() - t0
                if len(win) > 1:
                    lp = torch.log_softmax(logits[:-1].double(), dim=-1)
                    nll_sum += -lp.gather(1, win[1:, None]).sum().item()
                    n_pred += len(win) - 1
            runs.append(seconds)
    runs.sort()
    seconds = runs[len(runs) // 2]
    print(json.dumps({
        "peer": f"pytorch {torch.__version__} (threads={torch.get_num_threads()})",
        "ppl": math.exp(nll_sum / n_pred), "mean_nll": nll_sum / n_pred,
        "n_tokens": int(len(ids)), "n_predictions": n_pred,
        "seconds": seconds, "tokens_per_second": len(ids) / seconds,
        "all_seconds": runs,
    }))


if __name__ == "__main__":
    sys.exit(main())
