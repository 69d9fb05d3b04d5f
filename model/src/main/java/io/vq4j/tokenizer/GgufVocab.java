package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.core.InputException;
import io.vq4j.io.gguf.GgufFile;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * A sentencepiece-style vocabulary as GGUF's "llama" tokenizer keys hold it
 * ({@code tokenizer.ggml.tokens}, {@code .scores}, {@code .token_type}, BOS/EOS/UNK ids): token
 * text with "▁" for spaces and {@code <0xXX>} byte-fallback tokens, and a score per token that
 * llama.cpp's tokenizer merges by, best first, like llama2.c's run.c.
 *
 * <p>From a llama2.c tokenizer.bin the pieces and scores are taken as they are (BOS and EOS lose
 * llama2.c's newlines, as in {@link TokenizerJson}). From a sentencepiece-style
 * tokenizer.json, whose BPE merges are ranked instead of scored, a merged token's score is
 * minus the rank of the first merge that makes it, so best-score-first merging picks what
 * rank-first BPE picks; tokens no merge makes get -1e10, which run.c never merges. Byte-level
 * (GPT-2 style) vocabularies are refused: GGUF's "gpt2" tokenizer is not written yet.
 *
 * <p>Read back, the vocabulary becomes a {@link Llama2cTokenizer} over the same pieces and
 * scores, which needs llama2.c's layout: BOS 1, EOS 2, byte tokens at 3..258.
 */
public record GgufVocab(String[] tokens, float[] scores, int[] types, int bos, int eos, int unk) {
    /** The value of tokenizer.ggml.model for this kind of vocabulary. */
    public static final String MODEL = "llama";
    /** llama.cpp's token types (llama_token_type / gguf TokenType). */
    public static final int NORMAL = 1;
    public static final int UNKNOWN = 2;
    public static final int CONTROL = 3;
    public static final int USER_DEFINED = 4;
    public static final int BYTE = 6;
    /** run.c's "never merge" score: a piece no merge rule makes. */
    static final float UNREACHABLE = -1e10f;

    /** The vocabulary of a llama2.c tokenizer. */
    public static GgufVocab of(Llama2cTokenizer t) {
        String[] pieces = TokenizerJson.hfPieces(t);
        float[] scores = new float[pieces.length];
        int[] types = new int[pieces.length];
        for (int id = 0; id < pieces.length; id++) {
            scores[id] = t.score(id);
            types[id] = id == 0 ? UNKNOWN : id <= Llama2cTokenizer.EOS ? CONTROL
                    : id < Llama2cTokenizer.BYTE_OFFSET + 256 ? BYTE : NORMAL;
        }
        return new GgufVocab(pieces, scores, types, Llama2cTokenizer.BOS, Llama2cTokenizer.EOS, 0);
    }

    /**
     * The vocabulary of the model's tokenizer: {@code loaded} when it is a llama2.c one, else the
     * tokenizer.json it was read from ({@code explicitTokenizer}, or the one in the model directory).
     */
    public static GgufVocab forModel(Tokenizer loaded, Path model, Path explicitTokenizer) {
        if (loaded instanceof Llama2cTokenizer l2c) {
            return of(l2c);
        }
        Path json = explicitTokenizer != null ? explicitTokenizer : model.resolve("tokenizer.json");
        return ofTokenizerJson(json, loaded.bosId(), loaded.eosId());
    }

    /** The vocabulary of a sentencepiece-style tokenizer.json (BPE with byte_fallback and "▁"). */
    public static GgufVocab ofTokenizerJson(Path file, int bos, int eos) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw InputException.at(file, "cannot read: " + e.getMessage().lines().findFirst().orElse(""));
        }
        JsonNode model = root.path("model");
        if (!model.path("type").asText("BPE").equals("BPE") || !model.path("vocab").isObject()) {
            throw InputException.at(file, "not a BPE tokenizer.json; GGUF export needs one");
        }
        if (mentions(root.get("pre_tokenizer"), "ByteLevel") || mentions(root.get("decoder"), "ByteLevel")) {
            throw InputException.at(file, "is a byte-level (GPT-2 style) BPE tokenizer; GGUF export writes only"
                    + " sentencepiece-style vocabularies (tokenizer.ggml.model \"llama\") for now");
        }
        if (!model.path("byte_fallback").asBoolean(false)) {
            throw InputException.at(file, "has no byte_fallback; GGUF's \"llama\" tokenizer needs <0xXX> byte tokens");
        }
        Map<String, Integer> ids = new HashMap<>();
        int size = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = model.get("vocab").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            ids.put(e.getKey(), e.getValue().asInt());
            size = Math.max(size, e.getValue().asInt() + 1);
        }
        Map<Integer, Boolean> added = new HashMap<>();
        for (JsonNode t : root.path("added_tokens")) {
            ids.putIfAbsent(t.path("content").asText(), t.path("id").asInt());
            added.put(t.path("id").asInt(), t.path("special").asBoolean(false));
            size = Math.max(size, t.path("id").asInt() + 1);
        }
        String[] tokens = new String[size];
        ids.forEach((text, id) -> {
            if (id >= 0) {
                tokens[id] = text;
            }
        });
        for (int id = 0; id < size; id++) {
            if (tokens[id] == null) {
                throw InputException.at(file, "token id " + id + " has no text; GGUF needs every id up to "
                        + (size - 1));
            }
        }
        float[] scores = new float[size];
        Arrays.fill(scores, Float.NaN);
        JsonNode merges = model.path("merges");
        for (int rank = 0; rank < merges.size(); rank++) {
            JsonNode m = merges.get(rank);
            String merged = m.isTextual() ? m.asText().replace(" ", "") : m.path(0).asText() + m.path(1).asText();
            Integer id = ids.get(merged);
            if (id != null && id >= 0 && Float.isNaN(scores[id])) {
                scores[id] = -rank;
            }
        }
        String unkText = model.path("unk_token").asText(null);
        int unk = unkText != null && ids.containsKey(unkText) ? ids.get(unkText) : -1;
        int[] types = new int[size];
        for (int id = 0; id < size; id++) {
            String t = tokens[id];
            boolean single = t.codePointCount(0, t.length()) == 1;
            types[id] = added.containsKey(id) ? (added.get(id) ? CONTROL : USER_DEFINED) : id == unk ? UNKNOWN
                    : Llama2cTokenizer.byteToken(t.getBytes(StandardCharsets.UTF_8), 0) >= 0 ? BYTE : NORMAL;
            if (Float.isNaN(scores[id])) {
                scores[id] = single || types[id] != NORMAL ? 0f : UNREACHABLE;
            }
        }
        return new GgufVocab(tokens, scores, types, bos, eos, unk);
    }

    /** The tokenizer keys of a GGUF file; other tokenizer models are refused with one line. */
    public static GgufVocab read(GgufFile f) {
        String model = f.has("tokenizer.ggml.model") ? f.string("tokenizer.ggml.model") : "(none)";
        if (!model.equals(MODEL)) {
            throw InputException.at(f.path(), "tokenizer.ggml.model is \"" + model + "\"; vq4j reads only \"" + MODEL
                    + "\" (sentencepiece-style) vocabularies from GGUF; pass --tokenizer FILE");
        }
        String[] tokens = f.strings("tokenizer.ggml.tokens");
        float[] scores = f.has("tokenizer.ggml.scores") ? f.floats32("tokenizer.ggml.scores")
                : new float[tokens.length];
        int[] types = new int[tokens.length];
        if (f.has("tokenizer.ggml.token_type")) {
            long[] t = f.integers("tokenizer.ggml.token_type");
            if (t.length != tokens.length) {
                throw InputException.at(f.path(), "tokenizer.ggml.token_type has " + t.length + " entries for "
                        + tokens.length + " tokens");
            }
            for (int i = 0; i < t.length; i++) {
                types[i] = (int) t[i];
            }
        } else {
            Arrays.fill(types, NORMAL);
        }
        if (scores.length != tokens.length) {
            throw InputException.at(f.path(), "tokenizer.ggml.scores has " + scores.length + " entries for "
                    + tokens.length + " tokens");
        }
        return new GgufVocab(tokens, scores, types, id(f, "tokenizer.ggml.bos_token_id", 1, tokens.length),
                id(f, "tokenizer.ggml.eos_token_id", 2, tokens.length),
                id(f, "tokenizer.ggml.unknown_token_id", 0, tokens.length));
    }

    private static int id(GgufFile f, String key, int fallback, int vocab) {
        if (!f.has(key)) {
            return fallback;
        }
        long id = f.integer(key);
        if (id < 0 || id >= vocab) {
            throw InputException.at(f.path(), key + " is " + id + ", outside the vocabulary of " + vocab);
        }
        return (int) id;
    }

    /** The tokenizer a GGUF file carries. */
    public static Llama2cTokenizer open(Path file) {
        try (GgufFile f = GgufFile.open(file)) {
            return read(f).tokenizer(file);
        }
    }

    /** This vocabulary as run.c's tokenizer (see the class comment for the layout it needs). */
    public Llama2cTokenizer tokenizer(Path source) {
        if (bos != Llama2cTokenizer.BOS || eos != Llama2cTokenizer.EOS) {
            throw InputException.at(source, "the vocabulary has BOS " + bos + " and EOS " + eos + "; vq4j reads GGUF"
                    + " vocabularies with llama2.c's layout (BOS 1, EOS 2); pass --tokenizer FILE");
        }
        if (tokens.length < Llama2cTokenizer.BYTE_OFFSET + 256) {
            throw InputException.at(source, "the vocabulary has " + tokens.length + " tokens; at least 259 are needed");
        }
        byte[][] pieces = new byte[tokens.length][];
        for (int id = 0; id < tokens.length; id++) {
            int b = id - Llama2cTokenizer.BYTE_OFFSET;
            if (b >= 0 && b < 256 && !tokens[id].equals(String.format("<0x%02X>", b))) {
                throw InputException.at(source, "token " + id + " is \"" + tokens[id] + "\", not the byte token <0x"
                        + String.format("%02X", b) + "> that llama2.c's layout puts there; pass --tokenizer FILE");
            }
            pieces[id] = tokens[id].replace(TokenizerJson.SPACE, " ").getBytes(StandardCharsets.UTF_8);
        }
        return Llama2cTokenizer.of(source, pieces, scores);
    }

    private static boolean mentions(JsonNode n, String type) {
        if (n == null || n.isNull()) {
            return false;
        }
        if (n.isObject() && type.equals(n.path("type").asText())) {
            return true;
        }
        for (JsonNode child : n) {
            if (mentions(child, type)) {
                return true;
            }
        }
        return false;
    }
}
