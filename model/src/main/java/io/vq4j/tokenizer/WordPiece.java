package io.vq4j.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.core.InputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A BERT WordPiece tokenizer read from a Hugging Face {@code tokenizer.json}, encoding as the
 * {@code tokenizers} library does for one sentence: added tokens ([CLS], [SEP], …) are cut out
 * of the raw text first; each remaining stretch is normalized ({@link BertNormalizer}) and
 * split into words; each word becomes its greedy longest-match pieces, continuations carrying
 * the "##" prefix, or a single [UNK] when any part of it has no piece or it is longer than
 * max_input_chars_per_word; the post-processor's template puts [CLS] before and [SEP] after.
 *
 * <p>Truncation follows the file's {@code truncation.max_length} (special tokens included,
 * extra pieces dropped from the right); for all-MiniLM-L6-v2 as langchain4j ships it that is
 * 128, while sentence-transformers uses 256 for the same model. {@link #encode(String, int)}
 * takes another limit.
 */
public final class WordPiece {
    private final Path source;
    private final Map<String, Integer> vocab;
    private final String[] pieces;
    private final String prefix;
    private final int unk;
    private final int maxInputChars;
    /** The longest piece in UTF-16 units, without the prefix: no match can be longer. */
    private final int maxPieceLength;
    private final BertNormalizer normalizer;
    private final AddedTokens added;
    private final int[] before;
    private final int[] after;
    private final int maxLength;

    private WordPiece(Path source, JsonNode root) {
        this.source = source;
        JsonNode model = root.path("model");
        if (model.has("type") && !"WordPiece".equals(model.get("type").asText())) {
            throw HfJson.unsupported(source, "model type " + model.get("type").asText() + " (WordPiece only)");
        }
        if (!model.path("vocab").isObject() || model.path("vocab").isEmpty()) {
            throw InputException.at(source, "model has no vocab object");
        }
        this.vocab = new HashMap<>();
        long size = 0;
        for (Map.Entry<String, JsonNode> e : model.get("vocab").properties()) {
            if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 0) {
                throw InputException.at(source, "vocab entry \"" + e.getKey() + "\" has no valid id: " + e.getValue());
            }
            vocab.put(e.getKey(), e.getValue().asInt());
            size = Math.max(size, e.getValue().asInt() + 1L);
        }
        this.prefix = model.path("continuing_subword_prefix").isTextual()
                ? model.get("continuing_subword_prefix").asText() : "##";
        this.maxInputChars = HfJson.integer(model, "max_input_chars_per_word", 100);
        String unkToken = HfJson.text(model, "unk_token", source, "WordPiece model");
        this.unk = id(unkToken, "unk_token");
        int longest = 0;
        for (String p : vocab.keySet()) {
            longest = Math.max(longest, p.startsWith(prefix) ? p.length() - prefix.length() : p.length());
        }
        this.maxPieceLength = longest;

        this.normalizer = normalizer(root.get("normalizer"), source);
        JsonNode pre = root.get("pre_tokenizer");
        if (HfJson.isNull(pre) || !"BertPreTokenizer".equals(HfJson.type(pre, source, "pre_tokenizer"))) {
            throw HfJson.unsupported(source, "pre_tokenizer " + (HfJson.isNull(pre) ? "null" : pre.get("type").asText())
                    + " (BertPreTokenizer only)");
        }
        List<AddedTokens.Token> addedTokens = new ArrayList<>();
        for (JsonNode t : root.path("added_tokens")) {
            if (!t.path("id").canConvertToInt() || t.path("id").asInt() < 0 || !t.path("content").isTextual()) {
                throw InputException.at(source, "added_tokens entry without id and content: " + t);
            }
            if (HfJson.bool(t, "normalized", false)) {
                throw HfJson.unsupported(source, "normalized added token " + t.get("content").asText());
            }
            addedTokens.add(new AddedTokens.Token(t.get("id").asInt(), t.get("content").asText(),
                    HfJson.bool(t, "single_word", false), HfJson.bool(t, "lstrip", false),
                    HfJson.bool(t, "rstrip", false), false));
            size = Math.max(size, t.get("id").asInt() + 1L);
        }
        int declared = model.get("vocab").size() + addedTokens.size();
        if (size > declared) {
            // ids index arrays of the vocabulary's size: a stray huge id must not allocate gigabytes
            throw InputException.at(source, "vocab and added_tokens have " + declared + " entries but an id of "
                    + (size - 1) + ": ids must number the entries");
        }
        this.added = new AddedTokens(addedTokens);
        this.pieces = new String[(int) size];
        vocab.forEach((p, id) -> pieces[id] = p);
        addedTokens.forEach(t -> pieces[t.id()] = t.content());

        int[][] template = template(root.get("post_processor"));
        this.before = template[0];
        this.after = template[1];
        JsonNode trunc = root.get("truncation");
        if (HfJson.isNull(trunc)) {
            this.maxLength = Integer.MAX_VALUE;
        } else {
            if (!"Right".equals(trunc.path("direction").asText("Right"))) {
                throw HfJson.unsupported(source, "truncation direction " + trunc.get("direction").asText());
            }
            this.maxLength = HfJson.integer(trunc, "max_length", Integer.MAX_VALUE);
            if (maxLength < before.length + after.length) {
                throw InputException.at(source, "truncation max_length " + maxLength + " leaves no room for the special tokens");
            }
        }
    }

    /** Reads a tokenizer.json file. */
    public static WordPiece read(Path file) {
        try {
            return parse(Files.readAllBytes(file), file);
        } catch (NoSuchFileException e) {
            throw InputException.at(file, "no such file");
        } catch (IOException e) {
            throw InputException.at(file, "cannot read: " + e.getMessage());
        }
    }

    /** Parses tokenizer.json content; {@code source} names it in messages (a file, or {@code jar!/entry}). */
    public static WordPiece parse(byte[] json, Path source) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(json);
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr();
            throw InputException.at(source, "not valid JSON" + where + ": "
                    + e.getOriginalMessage().lines().findFirst().orElse(""));
        } catch (IOException e) {
            throw InputException.at(source, "cannot read: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw InputException.at(source, "not a tokenizer.json: the top level is not an object");
        }
        return new WordPiece(source, root);
    }

    private static BertNormalizer normalizer(JsonNode n, Path source) {
        if (HfJson.isNull(n)) {
            return null;
        }
        String type = HfJson.type(n, source, "normalizer");
        if (!type.equals("BertNormalizer")) {
            throw HfJson.unsupported(source, "normalizer " + type + " (BertNormalizer only)");
        }
        boolean lowercase = HfJson.bool(n, "lowercase", true);
        // strip_accents: null means "as lowercase"
        return new BertNormalizer(HfJson.bool(n, "clean_text", true), HfJson.bool(n, "handle_chinese_chars", true),
                HfJson.bool(n, "strip_accents", lowercase), lowercase);
    }

    /** The special-token ids before and after the sequence in the single-sentence template. */
    private int[][] template(JsonNode pp) {
        if (HfJson.isNull(pp)) {
            return new int[][] {{}, {}};
        }
        String type = HfJson.type(pp, source, "post_processor");
        if (type.equals("BertProcessing")) {
            return new int[][] {{specialId(pp.path("cls"))}, {specialId(pp.path("sep"))}};
        }
        if (!type.equals("TemplateProcessing")) {
            throw HfJson.unsupported(source, "post_processor " + type);
        }
        List<Integer> pre = new ArrayList<>();
        List<Integer> post = new ArrayList<>();
        boolean seenSequence = false;
        for (JsonNode item : pp.path("single")) {
            if (item.has("Sequence")) {
                seenSequence = true;
            } else if (item.has("SpecialToken")) {
                String name = item.get("SpecialToken").path("id").asText();
                JsonNode ids = pp.path("special_tokens").path(name).path("ids");
                if (!ids.isArray() || ids.isEmpty()) {
                    throw InputException.at(source, "post_processor special token " + name + " has no ids");
                }
                for (JsonNode id : ids) {
                    (seenSequence ? post : pre).add(id.asInt());
                }
            }
        }
        return new int[][] {pre.stream().mapToInt(Integer::intValue).toArray(),
            post.stream().mapToInt(Integer::intValue).toArray()};
    }

    private int specialId(JsonNode pair) {
        if (!pair.isArray() || pair.size() != 2 || !pair.get(1).canConvertToInt()) {
            throw InputException.at(source, "BertProcessing needs [token, id] pairs for cls and sep");
        }
        return pair.get(1).asInt();
    }

    private int id(String piece, String what) {
        Integer id = vocab.get(piece);
        if (id == null) {
            throw InputException.at(source, what + " \"" + piece + "\" is not in the vocab");
        }
        return id;
    }

    /** Token ids with the template's special tokens, truncated to the file's max_length. */
    public int[] encode(String text) {
        return encode(text, maxLength);
    }

    /** Token ids with the template's special tokens, at most {@code maxTokens} of them in all. */
    public int[] encode(String text, int maxTokens) {
        int budget = maxTokens - before.length - after.length;
        if (budget < 0) {
            throw new IllegalArgumentException("maxTokens " + maxTokens + " leaves no room for the special tokens");
        }
        IntList ids = new IntList(Math.min(budget, text.length() / 3 + 4) + before.length + after.length);
        for (int id : before) {
            ids.add(id);
        }
        int limit = before.length + budget;
        for (AddedTokens.Segment seg : added.split(text)) {
            if (ids.size() >= limit) {
                break; // truncation keeps the left part: the rest can never be used
            }
            if (seg.isToken()) {
                ids.add(seg.id());
                continue;
            }
            String s = normalizer == null ? seg.text() : normalizer.normalize(seg.text());
            for (String word : BertNormalizer.preTokenize(s)) {
                if (ids.size() >= limit) {
                    break;
                }
                encodeWord(word, ids);
            }
        }
        ids.truncate(Math.min(ids.size(), limit));
        for (int id : after) {
            ids.add(id);
        }
        return ids.toArray();
    }

    /** Greedy longest match; one [UNK] for the whole word if any part has no piece. */
    void encodeWord(String word, IntList out) {
        if (word.codePointCount(0, word.length()) > maxInputChars) {
            out.add(unk);
            return;
        }
        int mark = out.size();
        int start = 0;
        while (start < word.length()) {
            int end = Math.min(word.length(), start + maxPieceLength);
            if (end < word.length() && Character.isLowSurrogate(word.charAt(end))) {
                end--; // never cut a surrogate pair
            }
            Integer id = null;
            while (end > start) {
                String sub = word.substring(start, end);
                id = vocab.get(start > 0 ? prefix + sub : sub);
                if (id != null) {
                    break;
                }
                end -= Character.isLowSurrogate(word.charAt(end - 1)) && end - 2 >= start ? 2 : 1;
            }
            if (id == null) {
                out.truncate(mark);
                out.add(unk);
                return;
            }
            out.add(id);
            start = end;
        }
    }

    /** The pieces' strings, for reading an encoding; added tokens by their content. */
    public String piece(int id) {
        return id >= 0 && id < pieces.length && pieces[id] != null ? pieces[id] : null;
    }

    public int vocabSize() {
        return pieces.length;
    }

    /** The file's truncation limit (special tokens included), or Integer.MAX_VALUE when it has none. */
    public int maxLength() {
        return maxLength;
    }

    public int unkId() {
        return unk;
    }

    public Path source() {
        return source;
    }
}
