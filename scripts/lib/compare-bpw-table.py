"""The table of scripts/compare-bpw: each --target-bpw row of a sweep against the best uniform
configuration of the same sweep whose true bits/weight is at most the budget (best by the mean
over seeds of the stacked metric: perplexity for a causal LM, 1 - mean embedding cosine for a
sentence encoder; lower is better for both). Reads every seed's runs/NAME/seed-S/result.json.
"""
import glob
import json
import os
import statistics
import sys

work = sys.argv[1]
MODELS = ["stories260k", "minilm", "minilm-4bit", "minilm-2bit", "minilm-4bit-g128", "minilm-ladder"]
only = sys.argv[2] if len(sys.argv) > 2 else None


def runs(sweep):
    by = {}
    for f in sorted(glob.glob(os.path.join(sweep, "runs", "*", "seed-*", "result.json"))):
        r = json.load(open(f))
        by.setdefault(r["name"], []).append(r)
    return by


def metric(r):
    if "ppl" in r:
        return r["ppl"]
    return 1.0 - r["embedding_cosine_mean"]


def stat(xs):
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0), min(xs), max(xs)


def fmt(x):
    return f"{x:.4f}" if x >= 0.1 else f"{x:.5f}"


print("| model | budget B | metric | --target-bpw row (sensitivity) | --target-bpw: true bpw | --target-bpw: mean ± sd (min–max) | best uniform ≤ B"
      " | its true bpw | uniform: mean ± sd (min–max) | ratio of means | seeds | outside the spread? |")
print("|---|---:|---|---|---:|---|---|---:|---|---:|---:|---|")
for model in MODELS:
    if only and only != model:
        continue
    sweep = os.path.join(work, model)
    by = runs(sweep)
    if not by:
        continue
    budgets = sorted((n for n in by if n.startswith("target-bpw ")), key=lambda n: (float(n.split()[1]), n))
    uniform = {n: rs for n, rs in by.items() if not n.startswith("target-bpw ")}
    name = "ppl" if "ppl" in next(iter(by.values()))[0] else "1 - embedding cosine"
    for b in budgets:
        bpw = float(b.split()[1])
        mixed = by[b]
        within = [(stat([metric(r) for r in rs])[0], n) for n, rs in uniform.items()
                  if rs[0]["true_bits_per_weight"] <= bpw]
        m = stat([metric(r) for r in mixed])
        mb = mixed[0]["true_bits_per_weight"]
        sens = b.split()[2] if len(b.split()) > 2 else "h-error"
        if not within:
            print(f"| {model} | {bpw} | {name} | {sens} | {mb:.4f} | {fmt(m[0])} ± {fmt(m[1])} ({fmt(m[2])}–{fmt(m[3])}) |"
                  f" (none within B) | | | | {len(mixed)} | |")
            continue
        best = min(within)[1]
        u = stat([metric(r) for r in uniform[best]])
        ub = uniform[best][0]["true_bits_per_weight"]
        if m[3] < u[2]:
            verdict = "yes: every seed of --target-bpw better"
        elif u[3] < m[2]:
            verdict = "no: every seed of the uniform one better"
        else:
            verdict = "no: the ranges overlap"
        print(f"| {model} | {bpw} | {name} | {sens} | {mb:.4f} | {fmt(m[0])} ± {fmt(m[1])} ({fmt(m[2])}–{fmt(m[3])}) |"
              f" {best} | {ub:.4f} | {fmt(u[0])} ± {fmt(u[1])} ({fmt(u[2])}–{fmt(u[3])}) | {m[0] / u[0]:.3f} |"
              f" {len(mixed)} | {verdict} |")
print()
print("Every row of the sweeps (mean ± sd over the seeds), by true bits/weight:")
print()
for model in MODELS:
    if only and only != model:
        continue
    by = runs(os.path.join(work, model))
    for n, rs in sorted(by.items(), key=lambda e: e[1][0]["true_bits_per_weight"]):
        s = stat([metric(r) for r in rs])
        print(f"- {model} `{n}`: true {rs[0]['true_bits_per_weight']:.4f} bpw, {fmt(s[0])} ± {fmt(s[1])}"
              f" ({fmt(s[2])}–{fmt(s[3])}), {len(rs)} seeds")
