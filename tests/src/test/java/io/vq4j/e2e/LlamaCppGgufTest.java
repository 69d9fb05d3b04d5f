package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.cli.VqMain;
import io.vq4j.eval.Perplexity;
import io.vq4j.eval.TextInput;
import io.vq4j.export.gguf.GgufExport;
import io.vq4j.io.gguf.GgmlType;
import io.vq4j.model.KvCache;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.Linear;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.LlamaWeights;
import io.vq4j.model.ModelLoader;
import io.vq4j.model.SyntheticModel;
import io.vq4j.testing.SharedData;
import io.vq4j.tokenizer.GgufVocab;
import io.vq4j.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * vq4j's GGUF export checked by llama.cpp itself (node-llama-cpp, see {@link LlamaCpp}):
 * stories260K exported as f32, q8_0, q4_0, q4_1 and q4_K (which for its rows of 64 and 172 is
 * q5_0 and f16, llama.cpp's fallback), and a synthetic model of whole q4_K super-blocks, are run
 * by llama.cpp and by vq4j reading the same file back, and the two must agree on the tokenization,
 * the greedy tokens and the per-token log-likelihood of TinyStories text.
 *
 * <p>Tolerances, from what llama.cpp does. Its contexts here keep K/V in f32 without flash
 * attention, so for f32 weights both compute the same fp32 arithmetic in another order: the
 * perplexities agree to 1e-5 (measured 6e-7) and every token's NLL to 1e-3 (measured 3e-5).
 * For quantized weights llama.cpp's CPU backend multiplies by q8_0/q8_1-quantized activations
 * (and rounds activations to fp16 for the f16 fallback of ffn_down), a rounding vq4j does not
 * do. That rounding is discontinuous: once one activation lands on the other side of a rounding
 * boundary the difference cascades through the later quantized layers, so per-token NLLs differ
 * by the activation noise itself (measured: mean |dNLL| 0.016-0.018 nats, sd about 0.025) and
 * the perplexity of N = 4.6k predictions by about sd/sqrt(N) = 4e-4 (measured 3e-4 to 5e-4).
 * The bound 2e-3 is five such standard errors. To check the decoded blocks more tightly,
 * files with only the output head (the tied token_embd) quantized are compared with vq4j
 * rounding that one product's input as llama.cpp's AVX2 code does: there nothing cascades
 * and the NLLs agree to float rounding (median 1e-6 for q8_0 and q4_0; 4e-5 for q4_1, whose
 * q8_1 activation blocks also carry their sum rounded to fp16, which is not emulated; bound
 * 2e-4, perplexity 1e-4).
 */
class LlamaCppGgufTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<GgmlType> TYPES = List.of(GgmlType.F32, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1,
            GgmlType.Q4_K);
    /** stories260K's rows (64, 172) are no whole q4_K super-blocks: its q4_K file is q5_0 and f16, as llama.cpp's. */
    private static final List<GgmlType> QUANTIZED = List.of(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K);
    /** The synthetic model whose rows are whole q4_K super-blocks (dim 256, hidden 512; stories260K's vocabulary). */
    private static final LlamaConfig SYNTH = SyntheticModel.config(256, 512, 2, 4, 2, 512, 512);
    private static final List<String> PROMPTS = List.of("Once upon a time", "Lily and Tom went to the park.",
            "The little dog was sad because");
    private static final int MAX_TOKENS = 24;
    private static final int CTX = 512;
    /** 9 windows of up to 512 tokens (4.6k predictions): llama.cpp takes about 1 s a window on 2 busy cores. */
    private static final long TEXT_BYTES = 9_500;
    /** The head-only files need fewer windows: their agreement is at float rounding. */
    private static final int HEAD_ONLY_WINDOWS = 3;
    /** A near-tie: activation rounding moves logits by about 1e-2, so a smaller margin may flip the greedy pick. */
    private static final float NEAR_TIE = 0.1f;

    /** One GGUF file, as both engines evaluated it. */
    record Run(String name, GgmlType type, boolean headOnly, boolean synthetic, Path file,
               ModelLoader.LoadedModel vq4j, JsonNode llama) {
    }

    @TempDir
    static Path work;
    static String text;
    static int[] textIds;
    static JsonNode answer;
    static final List<Run> runs = new ArrayList<>();

    static void vq(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = VqMain.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        assertEquals(0, cl.execute(args), String.join(" ", args) + ": " + err);
    }

    @BeforeAll
    static void runBoth() throws Exception {
        LlamaCpp.require("LlamaCppGgufTest");
        String model = SharedData.stories260K().toString();
        List<Path> files = new ArrayList<>();
        for (GgmlType t : TYPES) {
            Path file = work.resolve("stories260K-" + t.ggmlName() + ".gguf");
            vq("export", "--format", "gguf", "--type", t.ggmlName(), "--model", model, "--out", file.toString());
            files.add(file);
        }
        ModelLoader.LoadedModel source = ModelLoader.load(SharedData.stories260K(), null);
        GgufVocab vocab = GgufVocab.forModel(source.tokenizer(), SharedData.stories260K(), null);
        for (GgmlType t : QUANTIZED) {
            Path file = work.resolve("stories260K-head-" + t.ggmlName() + ".gguf");
            GgufExport.write(source.checkpoint(), vocab, GgmlType.F32,
                    name -> name.equals("token_embd.weight") ? t : GgmlType.F32, file);
            files.add(file);
        }
        LlamaCheckpoint synth = sharpened(SyntheticModel.create(SYNTH, 20));
        Path synthFull = work.resolve("synth-q4_K.gguf");
        GgufExport.Result full = GgufExport.write(synth, vocab, GgmlType.Q4_K, synthFull);
        assertTrue(full.fallbacks().isEmpty(), "every synthetic weight is q4_K");
        files.add(synthFull);
        Path synthHead = work.resolve("synth-head-q4_K.gguf");
        GgufExport.write(synth, vocab, GgmlType.F32, name -> name.equals("token_embd.weight") ? GgmlType.Q4_K
                : GgmlType.F32, synthHead);
        files.add(synthHead);
        Tokenizer tok = ModelLoader.load(files.get(0), null).tokenizer();
        text = TextInput.read(SharedData.tinyStoriesVal(), TEXT_BYTES);
        textIds = tok.encode(text, true);

        ObjectNode request = JSON.createObjectNode().put("threads", 1);
        for (int i = 0; i < files.size(); i++) {
            ObjectNode m = request.withArray("models").addObject().put("path", files.get(i).toString());
            if (i >= TYPES.size() && i != TYPES.size() + QUANTIZED.size()) {
                m.put("pplWindows", HEAD_ONLY_WINDOWS);
            }
        }
        for (String p : PROMPTS) {
            ObjectNode o = request.withArray("prompts").addObject().put("text", p).put("maxTokens", MAX_TOKENS);
            Arrays.stream(tok.encode(p, true)).forEach(o.putArray("ids")::add);
        }
        ArrayNode ids = request.putObject("ppl").put("ctx", CTX).putArray("ids");
        Arrays.stream(textIds).forEach(ids::add);
        request.putArray("tokenize").add(text);
        long t0 = System.nanoTime();
        answer = LlamaCpp.run(request, work, 600);
        System.err.printf(Locale.ROOT, "LlamaCppGgufTest: llama.cpp (node-llama-cpp %s, llama.cpp %s) ran %d files"
                        + " in %.1f s%n", answer.path("nodeLlamaCpp").asText(), answer.path("llamaCppRelease").asText(),
                files.size(), (System.nanoTime() - t0) / 1e9);
        for (int i = 0; i < files.size(); i++) {
            int s = TYPES.size() + QUANTIZED.size();
            boolean synthetic = i >= s;
            boolean head = i >= TYPES.size() && i != s;
            GgmlType t = synthetic ? GgmlType.Q4_K : head ? QUANTIZED.get(i - TYPES.size()) : TYPES.get(i);
            runs.add(new Run((synthetic ? "synthetic " : "") + (head ? "head-only " : "") + t.ggmlName(), t, head,
                    synthetic, files.get(i), ModelLoader.load(files.get(i), null), answer.get("models").get(i)));
        }
    }

    static List<Run> runs(boolean headOnly, List<GgmlType> types) {
        return runs.stream().filter(r -> !r.synthetic() && r.headOnly() == headOnly && types.contains(r.type()))
                .toList();
    }

    static Run synthetic(boolean headOnly) {
        return runs.stream().filter(r -> r.synthetic() && r.headOnly() == headOnly).findFirst().orElseThrow();
    }

    /**
     * The synthetic weights with the final norm's gain at 8: random weights otherwise give nearly
     * uniform next-token distributions (logits of sd 0.3), on which a wrong decoding would hardly
     * show in the NLL; with logits of sd about 2.5 it does.
     */
    static LlamaCheckpoint sharpened(LlamaCheckpoint c) {
        LlamaWeights w = c.weights();
        float[] norm = w.finalNorm().clone();
        Arrays.fill(norm, 8f);
        return new LlamaCheckpoint(c.config(), new LlamaWeights(w.tokenEmbedding(), w.layers(), norm, w.lmHead()),
                c.source());
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    /** vq4j's NLL of every scored token of the first {@code windows} windows, cut as Perplexity cuts them. */
    static double[] vq4jNll(LlamaModel m, int windows) {
        int vocab = m.config().vocabSize();
        int tokens = Math.min(textIds.length, windows * CTX);
        double[] nll = new double[tokens - (tokens + CTX - 1) / CTX];
        KvCache cache = m.newCache(CTX);
        int k = 0;
        for (int start = 0; start < tokens; start += CTX) {
            int len = Math.min(CTX, textIds.length - start);
            cache.clear();
            float[] logits = m.forward(textIds, start, len, cache, true);
            for (int t = 0; t + 1 < len; t++) {
                nll[k++] = Perplexity.negLogSoftmax(logits, t * vocab, vocab, textIds[start + t + 1]);
            }
        }
        return nll;
    }

    /** How two per-token NLL series compare. */
    record Agreement(double pplVq4j, double pplLlama, double maxAbs, double meanAbs, double medianAbs) {
        double relative() {
            return pplLlama / pplVq4j - 1;
        }

        static Agreement of(double[] mine, JsonNode theirs) {
            assertEquals(mine.length, theirs.size(), "scored tokens");
            double a = 0;
            double b = 0;
            double[] d = new double[mine.length];
            for (int i = 0; i < mine.length; i++) {
                a += mine[i];
                b += theirs.get(i).asDouble();
                d[i] = Math.abs(mine[i] - theirs.get(i).asDouble());
            }
            double mean = Arrays.stream(d).sum() / d.length;
            Arrays.sort(d);
            return new Agreement(Math.exp(a / d.length), Math.exp(b / d.length), d[d.length - 1], mean,
                    d[d.length / 2]);
        }

        String describe(String name) {
            return String.format(Locale.ROOT, "%s: ppl vq4j %.6f, llama.cpp %.6f (rel %+.2e); per-token |dNLL|"
                    + " max %.2e, mean %.2e, median %.2e", name, pplVq4j, pplLlama, relative(), maxAbs, meanAbs, medianAbs);
        }
    }

    static Agreement perplexity(Run r, LlamaModel m) {
        Agreement a = Agreement.of(vq4jNll(m, r.headOnly() ? HEAD_ONLY_WINDOWS : Integer.MAX_VALUE / CTX),
                r.llama().get("ppl").get("nll"));
        System.err.println("LlamaCppGgufTest: " + a.describe(r.name()));
        return a;
    }

    @Test
    void llamaCppTokenizesTheExportedVocabularyAsVq4jDoes() {
        assertArrayEquals(textIds, ints(answer.get("tokenized").get(0)), "the TinyStories text");
        for (Run r : runs) {
            for (int p = 0; p < PROMPTS.size(); p++) {
                assertArrayEquals(r.vq4j().tokenizer().encode(PROMPTS.get(p), true),
                        ints(r.llama().get("prompts").get(p).get("tokenized")), r.name() + ": " + PROMPTS.get(p));
            }
        }
    }

    @Test
    void f32AgreesToFloatRounding() {
        Run r = runs(false, List.of(GgmlType.F32)).get(0);
        Agreement a = perplexity(r, r.vq4j().model());
        assertTrue(Math.abs(a.relative()) < 1e-5, a.describe(r.name()));
        assertTrue(a.maxAbs() < 1e-3, a.describe(r.name()));
        for (int p = 0; p < PROMPTS.size(); p++) {
            int[] prompt = r.vq4j().tokenizer().encode(PROMPTS.get(p), true);
            int[] theirs = ints(r.llama().get("prompts").get(p).get("greedy"));
            assertArrayEquals(greedy(r.vq4j().model(), prompt).tokens(), theirs, PROMPTS.get(p));
        }
    }

    @Test
    void quantizedPerplexityAgreesWithinTheActivationRoundingNoise() {
        for (Run r : runs(false, QUANTIZED)) {
            Agreement a = perplexity(r, r.vq4j().model());
            assertTrue(Math.abs(a.relative()) < 2e-3, a.describe(r.name()));
            assertTrue(a.meanAbs() < 0.05, a.describe(r.name()));
        }
    }

    @Test
    void llamaCppDecodesTheQuantizedHeadToTheSameWeights() {
        for (Run r : runs(true, QUANTIZED)) {
            LlamaWeights w = r.vq4j().checkpoint().weights();
            LlamaModel rounded = new LlamaModel(r.vq4j().checkpoint().config(), new LlamaWeights(w.tokenEmbedding(),
                    w.layers(), w.finalNorm(), new Q8Input(w.lmHead())));
            Agreement a = perplexity(r, rounded);
            assertTrue(a.medianAbs() < 2e-4, a.describe(r.name()));
            assertTrue(Math.abs(a.relative()) < 1e-4, a.describe(r.name()));
        }
    }

    /**
     * q4_K, on the synthetic model whose rows are whole super-blocks. llama.cpp multiplies q4_K
     * weights by activations rounded to q8_K (256 values, d = max/127 in fp32), coarser than the
     * q8_0 rounding of the 32-value types, and on this random model (sharpened, see
     * {@link #sharpened}) that noise cascades further (measured without emulation: perplexity
     * 3.5e-3, mean |dNLL| 0.077). vq4j is therefore run with that rounding emulated in front of
     * every product ({@link Q8KInput}); what remains is the cascade of the rare flipped activation
     * code (measured 3.6e-4, mean 0.026), held to the bounds of the 32-value types. The head-only
     * file, where nothing cascades, agrees to float rounding (measured: perplexity 2e-5, median
     * |dNLL| 3e-6), which is the check of the decoded q4_K weights.
     */
    @Test
    void q4_KAgreesOnAModelOfWholeSuperBlocks() {
        Run head = synthetic(true);
        LlamaWeights hw = head.vq4j().checkpoint().weights();
        Agreement h = perplexity(head, new LlamaModel(head.vq4j().checkpoint().config(), new LlamaWeights(
                hw.tokenEmbedding(), hw.layers(), hw.finalNorm(), new Q8KInput(hw.lmHead()))));
        assertTrue(h.medianAbs() < 2e-4, h.describe(head.name()));
        assertTrue(Math.abs(h.relative()) < 1e-4, h.describe(head.name()));
        Run full = synthetic(false);
        perplexity(full, full.vq4j().model()); // reported: the activation noise without emulation
        LlamaWeights w = full.vq4j().checkpoint().weights();
        List<LayerWeights> layers = w.layers().stream().map(l -> new LayerWeights(l.attnNorm(), new Q8KInput(l.wq()),
                new Q8KInput(l.wk()), new Q8KInput(l.wv()), new Q8KInput(l.wo()), l.ffnNorm(), new Q8KInput(l.w1()),
                new Q8KInput(l.w2()), new Q8KInput(l.w3()))).toList();
        Agreement a = perplexity(full, new LlamaModel(full.vq4j().checkpoint().config(), new LlamaWeights(
                w.tokenEmbedding(), layers, w.finalNorm(), new Q8KInput(w.lmHead()))));
        assertTrue(Math.abs(a.relative()) < 2e-3, a.describe(full.name() + " (q8_K activations emulated)"));
        assertTrue(a.meanAbs() < 0.05, a.describe(full.name() + " (q8_K activations emulated)"));
    }

    /**
     * Greedy tokens are the same until the first step where vq4j's best logit beats llama.cpp's
     * pick by less than {@link #NEAR_TIE}: there activation rounding may decide, and after it
     * the two continue from different texts. For f32 they must be the same throughout.
     */
    @Test
    void greedyTokensAgreeUpToANearTie() {
        int compared = 0;
        int total = 0;
        for (Run r : runs(false, TYPES)) {
            for (int p = 0; p < PROMPTS.size(); p++) {
                int[] prompt = r.vq4j().tokenizer().encode(PROMPTS.get(p), true);
                Greedy g = greedy(r.vq4j().model(), prompt);
                int[] theirs = ints(r.llama().get("prompts").get(p).get("greedy"));
                assertEquals(MAX_TOKENS, theirs.length, r.name() + ": " + PROMPTS.get(p));
                int i = 0;
                while (i < MAX_TOKENS && g.tokens()[i] == theirs[i]) {
                    i++;
                }
                if (i < MAX_TOKENS) {
                    float margin = g.logits()[i][g.tokens()[i]] - g.logits()[i][theirs[i]];
                    System.err.printf(Locale.ROOT, "LlamaCppGgufTest: %s, \"%s\": greedy tokens part at step %d, where"
                            + " vq4j's pick leads llama.cpp's by %.4f%n", r.name(), PROMPTS.get(p), i, margin);
                    assertTrue(margin < NEAR_TIE, r.name() + ": " + PROMPTS.get(p) + " parts at step " + i
                            + " with a margin of " + margin);
                }
                compared += i;
                total += MAX_TOKENS;
            }
        }
        assertTrue(compared >= 0.8 * total, "only " + compared + " of " + total + " greedy tokens agree");
    }

    record Greedy(int[] tokens, float[][] logits) {
    }

    static Greedy greedy(LlamaModel m, int[] prompt) {
        KvCache cache = m.newCache(prompt.length + MAX_TOKENS);
        int[] out = new int[MAX_TOKENS];
        float[][] logits = new float[MAX_TOKENS][];
        float[] l = m.forward(prompt, 0, prompt.length, cache, false);
        for (int i = 0; i < MAX_TOKENS; i++) {
            logits[i] = l;
            int best = 0;
            for (int v = 1; v < l.length; v++) {
                if (l[v] > l[best]) {
                    best = v;
                }
            }
            out[i] = best;
            if (i + 1 < MAX_TOKENS) {
                l = m.forward(out, i, 1, cache, false);
            }
        }
        return new Greedy(out, logits);
    }

    /**
     * A linear layer whose input rows are first rounded as llama.cpp rounds the activations of a
     * product with a q4_K weight (quantize_row_q8_K: per 256 values, iscale = −127 / the value of
     * largest magnitude, codes nearest_int(x · iscale) capped at 127, d = 1 / iscale in fp32).
     */
    record Q8KInput(Linear inner) implements Linear {
        @Override
        public int inFeatures() {
            return inner.inFeatures();
        }

        @Override
        public int outFeatures() {
            return inner.outFeatures();
        }

        @Override
        public void forward(float[] x, float[] y, int rows) {
            float[] r = Arrays.copyOf(x, rows * inFeatures());
            for (int b = 0; b < r.length; b += 256) {
                float amax = 0;
                float max = 0;
                for (int j = 0; j < 256; j++) {
                    if (Math.abs(r[b + j]) > amax) {
                        amax = Math.abs(r[b + j]);
                        max = r[b + j];
                    }
                }
                float iscale = amax == 0 ? 0 : -127f / max;
                float d = amax == 0 ? 0 : 1 / iscale;
                for (int j = 0; j < 256; j++) {
                    r[b + j] = Math.min(127, (float) Math.rint(iscale * r[b + j])) * d;
                }
            }
            inner.forward(r, y, rows);
        }
    }

    /**
     * A linear layer whose input rows are first rounded as llama.cpp's AVX2/AVX-512 CPU code
     * rounds the activations of a product with a q8_0/q4_0/q4_1 weight (quantize_row_q8_0 and
     * q8_1: per 32 values d = max|x| / 127 stored as fp16, codes rint(x · 127 / max|x|)).
     */
    record Q8Input(Linear inner) implements Linear {
        @Override
        public int inFeatures() {
            return inner.inFeatures();
        }

        @Override
        public int outFeatures() {
            return inner.outFeatures();
        }

        @Override
        public void forward(float[] x, float[] y, int rows) {
            float[] r = Arrays.copyOf(x, rows * inFeatures());
            for (int b = 0; b < r.length; b += 32) {
                float max = 0;
                for (int j = 0; j < 32; j++) {
                    max = Math.max(max, Math.abs(r[b + j]));
                }
                float d = Float.float16ToFloat(Float.floatToFloat16(max / 127f));
                float id = max != 0 ? 127f / max : 0f;
                for (int j = 0; j < 32; j++) {
                    r[b + j] = (float) Math.rint(r[b + j] * id) * d;
                }
            }
            inner.forward(r, y, rows);
        }
    }
}
