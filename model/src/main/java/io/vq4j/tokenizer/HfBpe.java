package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import io.vq4j.core.InputException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * The tokenizer.json "model" of type BPE: a word becomes one symbol per character (unknown
 * characters as {@code <0xXX>} byte tokens with byte_fallback, else the unk token, fused when
 * fuse_unk), then merges apply lowest rank first, leftmost on equal rank — HF's word merge.
 * With ignore_merges (Llama-3) a word that is itself in the vocabulary is taken whole.
 */
final class HfBpe {
    private final Path file;
    private final Map<String, Integer> vocab;
    private final PairTable merges;
    private final int unkId;
    private final boolean byteFallback;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final int[] byteIds = new int[256];

    private HfBpe(Path file, Map<String, Integer> vocab, PairTable merges, int unkId, boolean byteFallback,
                  boolean fuseUnk, boolean ignoreMerges) {
        this.file = file;
        this.vocab = vocab;
        this.merges = merges;
        this.unkId = unkId;
        this.byteFallback = byteFallback;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
        for (int b = 0; b < 256; b++) {
            byteIds[b] = vocab.getOrDefault(String.format("<0x%02X>", b), -1);
        }
    }

    Map<String, Integer> vocab() {
        return vocab;
    }

    static HfBpe parse(JsonNode model, Path file) {
        if (HfJson.isNull(model)) {
            throw InputException.at(file, "no \"model\"");
        }
        String type = model.has("type") ? model.get("type").asText() : "BPE";
        if (!type.equals("BPE")) {
            throw HfJson.unsupported(file, "model type " + type + " (only BPE)");
        }
        for (String affix : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            JsonNode v = model.get(affix);
            if (!HfJson.isNull(v) && !v.asText().isEmpty()) {
                throw HfJson.unsupported(file, "BPE " + affix + " \"" + v.asText() + "\"");
            }
        }
        JsonNode dropout = model.get("dropout");
        if (!HfJson.isNull(dropout) && dropout.asDouble() > 0) {
            throw HfJson.unsupported(file, "BPE dropout " + dropout.asDouble() + " (encoding would be random)");
        }
        JsonNode v = model.get("vocab");
        if (v == null || !v.isObject()) {
            throw InputException.at(file, "model.vocab must be an object of token → id");
        }
        Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 0) {
                throw InputException.at(file, "model.vocab: token \"" + e.getKey() + "\" has id " + e.getValue());
            }
            vocab.put(e.getKey(), e.getValue().asInt());
        }
        PairTable merges = parseMerges(model.path("merges"), vocab, file);
        int unkId = -1;
        JsonNode unk = model.get("unk_token");
        if (!HfJson.isNull(unk)) {
            unkId = vocab.getOrDefault(unk.asText(), -1);
            if (unkId < 0) {
                throw InputException.at(file, "model.unk_token \"" + unk.asText() + "\" is not in the vocabulary");
            }
        }
        return new HfBpe(file, vocab, merges, unkId, HfJson.bool(model, "byte_fallback", false),
                HfJson.bool(model, "fuse_unk", false), HfJson.bool(model, "ignore_merges", false));
    }

    /** Merges as "a b" strings (older files) or [a, b] pairs (tokenizers ≥ 0.20); rank = position. */
    private static PairTable parseMerges(JsonNode list, Map<String, Integer> vocab, Path file) {
        PairTable table = new PairTable(Math.max(16, list.size()));
        for (int rank = 0; rank < list.size(); rank++) {
            JsonNode m = list.get(rank);
            if (m.isTextual() != list.get(0).isTextual()) {
                // the tokenizers library reads one form or the other, never a mix
                throw InputException.at(file, "model.merges mixes \"a b\" strings and [a, b] pairs (entry " + rank + ")");
            }
            String a;
            String b;
            if (m.isTextual()) {
                String[] parts = m.asText().split(" ", -1);
                if (parts.length != 2) {
                    throw InputException.at(file, "model.merges[" + rank + "] \"" + m.asText() + "\" is not \"a b\"");
                }
                a = parts[0];
                b = parts[1];
            } else if (m.isArray() && m.size() == 2) {
                a = m.get(0).asText();
                b = m.get(1).asText();
            } else {
                throw InputException.at(file, "model.merges[" + rank + "] is neither \"a b\" nor [a, b]");
            }
            Integer left = vocab.get(a);
            Integer right = vocab.get(b);
            Integer merged = vocab.get(a + b);
            if (left == null || right == null || merged == null) {
                throw InputException.at(file, "model.merges[" + rank + "] (" + a + ", " + b
                        + ") uses a token that is not in the vocabulary");
            }
            table.put(left, right, rank, merged);
        }
        return table;
    }

    /** Appends the ids of one word to {@code out}. */
    void encodeWord(String word, IntList out) {
        if (word.isEmpty()) {
            return;
        }
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        IntList symbols = new IntList(word.length());
        boolean lastWasUnk = false;
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int len = Character.charCount(cp);
            Integer id = vocab.get(word.substring(i, i + len));
            i += len;
            if (id != null) {
                symbols.add(id);
                lastWasUnk = false;
                continue;
            }
            if (byteFallback && appendBytes(cp, symbols)) {
                lastWasUnk = false;
                continue;
            }
            if (unkId < 0) {
                throw InputException.at(file, "character U+" + Integer.toHexString(cp).toUpperCase()
                        + " is not in the vocabulary and the model has no unk_token");
            }
            if (!(fuseUnk && lastWasUnk)) {
                symbols.add(unkId);
            }
            lastWasUnk = true;
        }
        for (int id : PairMerger.merge(symbols.toArray(), merges)) {
            out.add(id);
        }
    }

    /** The {@code <0xXX>} tokens of the character's UTF-8 bytes, if all of them exist. */
    private boolean appendBytes(int cp, IntList symbols) {
        byte[] utf8 = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8);
        for (byte b : utf8) {
            if (byteIds[b & 0xFF] < 0) {
                return false;
            }
        }
        for (byte b : utf8) {
            symbols.add(byteIds[b & 0xFF]);
        }
        return true;
    }
}
