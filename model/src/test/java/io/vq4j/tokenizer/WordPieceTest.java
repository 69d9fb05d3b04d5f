package io.vq4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.testing.InputErrors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** WordPiece on a small hand-made vocabulary, where every expected split can be checked by eye. */
class WordPieceTest {
    @TempDir
    Path tmp;

    static final List<String> VOCAB = List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
            "un", "##aff", "##able", "hello", ",", "world", "!", "naive", "cafe", "中", "文",
            "a", "##a", "ab", "##bx", "b", "$", "5", "«", "»", "σ", "##σ", "##α", "i", "##stanbul");

    static ObjectNode json(int maxLength) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.putObject("truncation").put("direction", "Right").put("max_length", maxLength)
                .put("strategy", "LongestFirst").put("stride", 0);
        ArrayNode added = root.putArray("added_tokens");
        for (int id = 0; id < 5; id++) {
            added.addObject().put("id", id).put("content", VOCAB.get(id)).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
        }
        root.putObject("normalizer").put("type", "BertNormalizer").put("clean_text", true)
                .put("handle_chinese_chars", true).putNull("strip_accents").put("lowercase", true);
        root.putObject("pre_tokenizer").put("type", "BertPreTokenizer");
        ObjectNode pp = root.putObject("post_processor").put("type", "TemplateProcessing");
        ArrayNode single = pp.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", "[CLS]").put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        single.addObject().putObject("SpecialToken").put("id", "[SEP]").put("type_id", 0);
        pp.putObject("special_tokens").putObject("[CLS]").put("id", "[CLS]").putArray("ids").add(2);
        ((ObjectNode) pp.get("special_tokens")).putObject("[SEP]").put("id", "[SEP]").putArray("ids").add(3);
        ObjectNode model = root.putObject("model").put("type", "WordPiece").put("unk_token", "[UNK]")
                .put("continuing_subword_prefix", "##").put("max_input_chars_per_word", 100);
        ObjectNode vocab = model.putObject("vocab");
        for (int id = 0; id < VOCAB.size(); id++) {
            vocab.put(VOCAB.get(id), id);
        }
        return root;
    }

    private static int id(String piece) {
        return VOCAB.indexOf(piece);
    }

    private WordPiece tokenizer(ObjectNode json) throws IOException {
        Path f = tmp.resolve("tokenizer.json");
        new ObjectMapper().writeValue(f.toFile(), json);
        return WordPiece.read(f);
    }

    /** The pieces between [CLS] and [SEP], space-separated. */
    private static String pieces(WordPiece t, String text) {
        int[] ids = t.encode(text);
        assertEquals(2, ids[0], "starts with [CLS]");
        assertEquals(3, ids[ids.length - 1], "ends with [SEP]");
        return Arrays.stream(ids, 1, ids.length - 1).mapToObj(t::piece).collect(Collectors.joining(" "));
    }

    @Test
    void normalizesAccentsCaseAndSplitsPunctuation() throws IOException {
        WordPiece t = tokenizer(json(128));
        assertEquals("hello , world !", pieces(t, "Héllo, WORLD!"));
        assertEquals("naive cafe", pieces(t, "NAÏVE café"));
        assertEquals("$ 5 « hello »", pieces(t, "$5 «hello»"), "ASCII symbols and Unicode quotes are punctuation");
        assertEquals("σ ##α ##σ", pieces(t, "ΣΑΣ"), "each letter lowercased alone: no final sigma");
        assertEquals("i ##stanbul", pieces(t, "İstanbul"), "İ loses its dot with the accents");
    }

    @Test
    void splitsWordsGreedilyLongestFirstWithContinuations() throws IOException {
        WordPiece t = tokenizer(json(128));
        assertEquals("un ##aff ##able", pieces(t, "unaffable"));
        assertEquals("un ##able", pieces(t, "unable"));
        assertEquals("[UNK]", pieces(t, "abx"), "takes 'ab', then finds no '##x': no backtracking to a + ##bx");
        assertEquals("a ##a ##a", pieces(t, "aaa"));
        assertEquals("[UNK] hello", pieces(t, "zzz hello"), "a word with no piece is one [UNK]");
    }

    @Test
    void wordsLongerThanTheLimitAreUnknown() throws IOException {
        WordPiece t = tokenizer(json(512));
        assertEquals(102, t.encode("a".repeat(100)).length, "100 characters: a + 99 × ##a, plus [CLS] and [SEP]");
        assertEquals("[UNK]", pieces(t, "a".repeat(101)));
    }

    @Test
    void cleansControlsAndWhitespaceAndSpacesOutCjk() throws IOException {
        WordPiece t = tokenizer(json(128));
        assertEquals("hello world", pieces(t, "hel\u0000lo\tworld\u200b\ufffd"), "NUL, ZWSP (Cf) and U+FFFD are dropped");
        assertEquals("a b", pieces(t, "a\u00a0b"), "no-break space is whitespace");
        assertEquals("a 中 文 b", pieces(t, "a中文b"));
        assertEquals("", pieces(t, " \n\t "));
    }

    @Test
    void specialTokensInTheTextAreKeptWhole() throws IOException {
        WordPiece t = tokenizer(json(128));
        assertArrayEquals(new int[] {2, id("hello"), 3, id("world"), 2, 3}, t.encode("hello [SEP] world[CLS]"));
        assertEquals("[UNK] hello", pieces(t, "[UNK]hello"));
    }

    @Test
    void truncatesToMaxLengthWithTheSpecialTokensCounted() throws IOException {
        WordPiece t = tokenizer(json(6));
        assertEquals(6, t.maxLength());
        int hello = id("hello");
        assertArrayEquals(new int[] {2, hello, hello, hello, hello, 3}, t.encode("hello hello hello hello hello hello"));
        assertArrayEquals(new int[] {2, id("un"), id("##aff"), 3}, t.encode("unaffable unaffable", 4),
                "cut inside a word's pieces");
        assertArrayEquals(new int[] {2, 3}, t.encode(""));
    }

    @Test
    void unsupportedOrBrokenFilesAreInputErrors() throws IOException {
        ObjectNode bpe = json(128);
        ((ObjectNode) bpe.get("model")).put("type", "BPE");
        Path f = tmp.resolve("bpe.json");
        new ObjectMapper().writeValue(f.toFile(), bpe);
        InputErrors.fails(f, "unsupported tokenizer feature: model type BPE", () -> WordPiece.read(f));

        ObjectNode noUnk = json(128);
        ((ObjectNode) noUnk.get("model")).put("unk_token", "<unk>");
        Path g = tmp.resolve("unk.json");
        new ObjectMapper().writeValue(g.toFile(), noUnk);
        InputErrors.fails(g, "unk_token \"<unk>\" is not in the vocab", () -> WordPiece.read(g));

        ObjectNode ws = json(128);
        ws.putObject("pre_tokenizer").put("type", "Whitespace");
        Path h = tmp.resolve("ws.json");
        new ObjectMapper().writeValue(h.toFile(), ws);
        InputErrors.fails(h, "pre_tokenizer Whitespace", () -> WordPiece.read(h));

        for (long huge : new long[]{1L << 28, Integer.MAX_VALUE}) {
            ObjectNode stray = json(128);
            ((ObjectNode) stray.get("model").get("vocab")).put("stray", huge);
            Path s = tmp.resolve("stray" + huge + ".json");
            new ObjectMapper().writeValue(s.toFile(), stray);
            InputErrors.fails(s, "but an id of " + huge + ": ids must number the entries", () -> WordPiece.read(s));
        }

        Path bad = tmp.resolve("bad.json");
        Files.writeString(bad, "{\"model\": ");
        InputErrors.fails(bad, "not valid JSON", () -> WordPiece.read(bad));
        Path missing = tmp.resolve("missing.json");
        InputErrors.fails(missing, "no such file", () -> WordPiece.read(missing));
    }
}
