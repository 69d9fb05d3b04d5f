package io.vq4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfTokenizerTest {
    private static String head(Path file, int bytes) throws IOException {
        byte[] all = Files.readAllBytes(file);
        return new String(all, 0, Math.min(bytes, all.length), StandardCharsets.UTF_8);
    }

    private static void assertSameAsLlama2c(Llama2cTokenizer l2c, HfTokenizer hf, String text) {
        int[] expected = l2c.encode(text, true);
        assertArrayEquals(expected, hf.encode(text, true));
        assertEquals(l2c.decode(expected), hf.decode(expected));
    }

    @Test
    void convertedTok512GivesLlama2cIdsOnWholeTinyStoriesAndWikiText(@TempDir Path dir) throws IOException {
        Llama2cTokenizer l2c = Llama2cTokenizer.read(SharedData.tok512());
        TokenizerJson.write(l2c, dir);
        HfTokenizer hf = HfTokenizer.read(dir.resolve("tokenizer.json"));
        assertEquals(1, hf.bosId());
        assertEquals(2, hf.eosId());
        assertEquals(512, hf.vocabSize());
        assertSameAsLlama2c(l2c, hf, Files.readString(SharedData.tinyStoriesVal()));
        assertSameAsLlama2c(l2c, hf, Files.readString(SharedData.file("wikitext-2-raw/wiki.test.raw")));
        assertSameAsLlama2c(l2c, hf, "Émile's café: 日本語 🙂 — done");
    }

    @Test
    void convertedLlama2VocabularyGivesLlama2cIdsOnWikiText(@TempDir Path dir) throws IOException {
        Llama2cTokenizer l2c = Llama2cTokenizer.read(SharedData.file("llama2-tokenizer/tokenizer.bin"));
        TokenizerJson.write(l2c, dir);
        HfTokenizer hf = HfTokenizer.read(dir.resolve("tokenizer.json"));
        assertEquals(32000, hf.vocabSize());
        assertSameAsLlama2c(l2c, hf, head(SharedData.file("wikitext-2-raw/wiki.test.raw"), 200_000));
    }

    /** A byte-level (Llama-3 style) tokenizer small enough to check by hand. */
    private static Path byteLevel(Path dir) throws IOException {
        String split = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}"
                + "| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";
        StringBuilder vocab = new StringBuilder();
        int id = 0;
        for (int b = 0; b < 256; b++) {
            String c = HfTokenizer.ByteLevel.encode(new String(new byte[] {(byte) b}, StandardCharsets.ISO_8859_1));
            // single bytes as GPT-2 maps them; the test only needs ASCII and the emoji's bytes
            if (b < 128) {
                vocab.append(id == 0 ? "" : ",").append('"').append(escape(c)).append("\":").append(id++);
            }
        }
        String[] extra = {"Ġh", "Ġhe", "Ġhel", "Ġhello", "he", "ll", "llo", "hello", "12", "123", "'s"};
        for (String e : extra) {
            vocab.append(",\"").append(e).append("\":").append(id++);
        }
        String json = """
                {"added_tokens":[{"id":%d,"content":"<|begin_of_text|>","special":true},
                                 {"id":%d,"content":"<|eot_id|>","special":true}],
                 "normalizer":null,
                 "pre_tokenizer":{"type":"Sequence","pretokenizers":[
                    {"type":"Split","pattern":{"Regex":"%s"},"behavior":"Isolated","invert":false},
                    {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]},
                 "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<|begin_of_text|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}]},
                 "decoder":{"type":"ByteLevel"},
                 "model":{"type":"BPE","ignore_merges":true,"byte_fallback":false,"vocab":{%s},
                   "merges":["Ġ h","Ġh e","Ġhe l","h e","l l","ll o","Ġhel lo","he llo","1 2","12 3","' s"]}}
                """.formatted(id, id + 1, split, vocab);
        Path f = dir.resolve("tokenizer.json");
        Files.writeString(f, json);
        return f;
    }

    private static String escape(String c) {
        StringBuilder sb = new StringBuilder();
        for (char ch : c.toCharArray()) {
            if (ch == '"' || ch == '\\') {
                sb.append('\\').append(ch);
            } else if (ch < 0x20 || ch > 0x7e) {
                sb.append(String.format("\\u%04x", (int) ch));
            } else {
                sb.append(ch);
            }
        }
        return sb.toString();
    }

    @Test
    void byteLevelSplitsMergesAndKeepsSpecialTokensWhole(@TempDir Path dir) throws IOException {
        HfTokenizer t = HfTokenizer.read(byteLevel(dir));
        int bot = 128 + 11;
        int eot = bot + 1;
        assertEquals(bot, t.bosId());
        int hello = 128 + 3; // "Ġhello": ' hello' is one split and fully merges
        int helloWord = 128 + 7;
        // "hello hello's 12345<|eot_id|>" → hello | Ġhello | 's | 123 | 45 | <|eot_id|>
        int[] ids = t.encode("hello hello's 12345<|eot_id|>", true);
        assertArrayEquals(new int[] {bot, helloWord, hello, 128 + 10, ' ', 128 + 9, '4', '5', eot}, ids);
        assertEquals("hello hello's 12345<|eot_id|>", t.decode(ids));
    }

    @Test
    void byteLevelRoundTripsTextWhoseBytesAreSingleTokens(@TempDir Path dir) throws IOException {
        HfTokenizer t = HfTokenizer.read(byteLevel(dir));
        String text = "Tabs\tand\nnewlines, 'quotes' & symbols!?";
        assertEquals(text, t.decode(t.encode(text, false)));
    }

    @Test
    void wordPieceModelIsRejectedNamingTheFile(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("tokenizer.json");
        Files.writeString(f, "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}");
        InputException e = assertThrows(InputException.class, () -> HfTokenizer.read(f));
        assertTrue(e.getMessage().startsWith(f.toString()) && e.getMessage().contains("WordPiece"), e.getMessage());
    }

    @Test
    void invalidJsonIsRejectedNamingTheFile(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("tokenizer.json");
        Files.writeString(f, "{\"model\": ");
        InputException e = assertThrows(InputException.class, () -> HfTokenizer.read(f));
        assertTrue(e.getMessage().startsWith(f.toString()) && e.getMessage().contains("JSON"), e.getMessage());
    }
}
