// Runs GGUF models in llama.cpp (node-llama-cpp's prebuilt CPU binaries) and prints one JSON
// object on stdout: for each model, llama.cpp's own tokenization (BOS + text) and greedy
// continuation of each prompt (token ids and llama.cpp's detokenized text), and the negative log-likelihood of every scored token of the
// given ids, window by window as vq4j's `eval ppl` cuts them (each window from position 0,
// predictions of tokens 1..len-1).
//
//   node scripts/lib/llamacpp-eval.mjs REQUEST.json     (VQ_LLAMACPP_DIR: where the package is,
//                                                        see scripts/lib/llamacpp.sh)
// REQUEST: {"models": ["a.gguf", {"path": "b.gguf", "pplWindows": 4}, ...], "threads": 1,
//           "prompts": [{"text": "...", "ids": [1, ...], "maxTokens": 24}],
//           "ppl": {"ids": [...], "ctx": 512},
//           (without "ids", a prompt or "ppl": {"text": "...", "ctx": 512} is tokenized by llama.cpp: BOS + text)
//           "tokenize": ["text", ...]}        (tokenized by the first model: BOS + ids)
//
// Contexts keep K and V in f32 and do not use flash attention, so the only rounding llama.cpp
// adds to vq4j's fp32 arithmetic is in the weight x activation products (for quantized weights
// it quantizes the activations to q8_0/q8_1 blocks). One thread by default: ggml's threads spin
// while they wait, which is slow on a busy 2-core machine.
import {readFileSync} from "node:fs";
import {join} from "node:path";
import {homedir} from "node:os";
import {pathToFileURL} from "node:url";

const dir = process.env.VQ_LLAMACPP_DIR || join(homedir(), ".cache", "vq4j", "node-llama-cpp");
const pkgDir = join(dir, "node_modules", "node-llama-cpp");
const {getLlama, LlamaLogLevel} = await import(pathToFileURL(join(pkgDir, "dist", "index.js")).href);
const request = JSON.parse(readFileSync(process.argv[2], "utf8"));
const greedy = {temperature: 0};

const llama = await getLlama({gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
    progressLogs: false, logLevel: LlamaLogLevel.error});
const out = {
    nodeLlamaCpp: JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version,
    llamaCppRelease: JSON.parse(readFileSync(join(pkgDir, "llama", "binariesGithubRelease.json"), "utf8")).release,
    build: llama.buildType,
    models: []
};

async function continuation(sequence, ids, maxTokens) {
    await sequence.clearHistory();
    let input = ids.map((t, i) => i + 1 < ids.length ? t : [t, {generateNext: {token: true, options: greedy}}]);
    const generated = [];
    while (generated.length < maxTokens) {
        const res = await sequence.controlledEvaluate(input);
        const next = res[input.length - 1]?.next.token;
        if (next == null) {
            break;
        }
        generated.push(next);
        input = [[next, {generateNext: {token: true, options: greedy}}]];
    }
    return generated;
}

async function tokenNll(sequence, ids, ctx, windows) {
    const nll = [];
    for (let start = 0; start < ids.length && start < windows * ctx; start += ctx) {
        const window = ids.slice(start, Math.min(start + ctx, ids.length));
        await sequence.clearHistory();
        const input = window.map((t, i) => i + 1 < window.length
            ? [t, {generateNext: {probabilities: true, options: greedy}}] : t);
        const res = await sequence.controlledEvaluate(input);
        for (let i = 0; i + 1 < window.length; i++) {
            nll.push(-Math.log(res[i].next.probabilities.get(window[i + 1]) ?? 0));
        }
    }
    return nll;
}

for (const entry of request.models) {
    const path = typeof entry === "string" ? entry : entry.path;
    const windows = typeof entry === "string" || entry.pplWindows == null ? Infinity : entry.pplWindows;
    const model = await llama.loadModel({modelPath: path, gpuLayers: 0});
    const prompts = request.prompts || [];
    const promptLength = p => p.ids ? p.ids.length : 1 + model.tokenize(p.text).length;
    const ctxSize = Math.max(request.ppl ? request.ppl.ctx : 0, ...prompts.map(p => promptLength(p) + p.maxTokens), 16);
    const context = await model.createContext({contextSize: ctxSize, batchSize: ctxSize, sequences: 1,
        threads: request.threads || 1, flashAttention: false,
        experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
    const sequence = context.getSequence();
    const result = {model: path, prompts: []};
    for (const p of prompts) {
        const ids = p.ids || [model.tokens.bos, ...model.tokenize(p.text)];
        const generated = await continuation(sequence, ids, p.maxTokens);
        result.prompts.push({text: p.text, tokenized: [model.tokens.bos, ...model.tokenize(p.text)],
            greedy: generated, greedyText: model.detokenize(generated)});
    }
    if (request.ppl) {
        const ids = request.ppl.ids || [model.tokens.bos, ...model.tokenize(request.ppl.text)];
        const nll = await tokenNll(sequence, ids, request.ppl.ctx, windows);
        const sum = nll.reduce((a, b) => a + b, 0);
        result.ppl = {ctx: request.ppl.ctx, predictions: nll.length, nllSum: sum,
            ppl: Math.exp(sum / nll.length), nll};
    }
    if (out.models.length === 0 && request.tokenize) {
        out.tokenized = request.tokenize.map(text => [model.tokens.bos, ...model.tokenize(text)]);
    }
    out.models.push(result);
    await context.dispose();
    await model.dispose();
}
process.stdout.write(JSON.stringify(out) + "\n");
await llama.dispose();
