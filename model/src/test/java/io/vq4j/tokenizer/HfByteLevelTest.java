package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A small byte-level tokenizer.json written here (Llama-3 layout: Split with the Llama-3
 * pattern, then ByteLevel without regex; ids 0..255 are the 256 byte characters, so a
 * single-byte symbol's id is its byte value) with hand-checked encodings.
 */
class HfByteLevelTest {
    static final String LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final int HE = 257, G_THE = 258, APOS_S = 259, ONE_TWO = 260, EMOJI_PREFIX = 262, ABC = 263;
    static final int EOT = 264, BOT = 265; // added tokens follow the vocabulary, as the library numbers them

    @TempDir
    static Path tmp;
    private static HfTokenizer llama3Like;

    /** GPT-2's table written out from its definition, independently of ByteLevel. */
    static String byteChar(int b) {
        boolean printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        if (printable) {
            return String.valueOf((char) b);
        }
        int n = 0;
        for (int x = 0; x < b; x++) {
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) {
                n++;
            }
        }
        return String.valueOf((char) (256 + n));
    }

    /** An added_tokens entry with every field the tokenizers library requires. */
    static ObjectNode special(int id, String content) {
        return new ObjectMapper().createObjectNode().put("id", id).put("content", content).put("single_word", false)
                .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
    }

    static ObjectNode byteLevelJson(boolean ignoreMerges, ObjectNode preTokenizer) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        ArrayNode added = root.putArray("added_tokens");
        added.add(special(EOT, "<|eot|>"));
        added.add(special(BOT, "<|begin_of_text|>"));
        root.putNull("normalizer");
        root.set("pre_tokenizer", preTokenizer);
        ObjectNode pp = root.putObject("post_processor").put("type", "TemplateProcessing");
        pp.putArray("single").addObject().putObject("SpecialToken").put("id", "<|begin_of_text|>").put("type_id", 0);
        ((ArrayNode) pp.get("single")).addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pp.putArray("pair").addAll((ArrayNode) pp.get("single"));
        ObjectNode st = pp.putObject("special_tokens").putObject("<|begin_of_text|>");
        st.put("id", "<|begin_of_text|>").putArray("ids").add(BOT);
        st.putArray("tokens").add("<|begin_of_text|>");
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true)
                .put("use_regex", true);
        ObjectNode model = root.putObject("model").put("type", "BPE").putNull("dropout").putNull("unk_token")
                .put("byte_fallback", false).put("ignore_merges", ignoreMerges);
        ObjectNode vocab = model.putObject("vocab");
        for (int b = 0; b < 256; b++) {
            vocab.put(byteChar(b), b);
        }
        String g = byteChar(' ');
        vocab.put(g + "t", 256).put("he", HE).put(g + "the", G_THE).put("'s", APOS_S).put("12", ONE_TWO)
                .put(g + g, 261).put("ð" + byteChar(0x9F), EMOJI_PREFIX).put("abc", ABC);
        ArrayNode merges = model.putArray("merges");
        for (String[] mg : new String[][] {{g, "t"}, {"h", "e"}, {g + "t", "he"}, {"'", "s"}, {"1", "2"}, {g, g},
                {"ð", byteChar(0x9F)}}) {
            // Llama-3-era files (tokenizers >= 0.20) write [a, b] pairs, older ones "a b"
            if (ignoreMerges) {
                merges.addArray().add(mg[0]).add(mg[1]);
            } else {
                merges.add(mg[0] + " " + mg[1]);
            }
        }
        return root;
    }

    static ObjectNode llama3PreTokenizer() {
        ObjectNode pre = new ObjectMapper().createObjectNode().put("type", "Sequence");
        ObjectNode split = pre.putArray("pretokenizers").addObject().put("type", "Split");
        split.putObject("pattern").put("Regex", LLAMA3_PATTERN);
        split.put("behavior", "Isolated").put("invert", false);
        ((ArrayNode) pre.get("pretokenizers")).addObject().put("type", "ByteLevel")
                .put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", false);
        return pre;
    }

    static HfTokenizer write(String name, ObjectNode json) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        Path f = dir.resolve("tokenizer.json");
        new ObjectMapper().writeValue(f.toFile(), json);
        return HfTokenizer.read(f);
    }

    @BeforeAll
    static void build() throws IOException {
        llama3Like = write("llama3", byteLevelJson(true, llama3PreTokenizer()));
    }

    private static List<String> llama3Split(String s) {
        HfPreTokenizer p = HfPreTokenizer.parse(new ObjectMapper().createObjectNode().put("type", "Split")
                .put("behavior", "Isolated").set("pattern", new ObjectMapper().createObjectNode().put("Regex", LLAMA3_PATTERN)), tmp);
        return p.apply(new HfPreTokenizer.Piece(s, true)).stream().map(HfPreTokenizer.Piece::text).toList();
    }

    @Test
    void llama3PatternSplitsContractionsCaseInsensitivelyAndDigitsInThrees() {
        assertEquals(List.of("DON", "'T", " stop"), llama3Split("DON'T stop"));
        assertEquals(List.of("123", "45"), llama3Split("12345"));
        assertEquals(List.of("a", " ", " b"), llama3Split("a  b"));
        assertEquals(List.of("hi", "!!\n\n", "yo"), llama3Split("hi!!\n\nyo"));
        assertEquals(List.of("x", " \n", " y"), llama3Split("x \n y"));
        assertEquals(List.of("I", " ❤️", " 🦙", "s"), llama3Split("I ❤️ 🦙s"));
    }

    @Test
    void llama3PatternTreatsUnicodeSpacesAsWhitespaceLikeOniguruma() {
        // with Java's ASCII-only \s the two ideographic spaces would be one punctuation run
        assertEquals(List.of("\u3000", "\u3000x"), llama3Split("\u3000\u3000x"));
        // the splits the tokenizers library 0.22.2 gives: NEL is whitespace, "ſ" folds to "s"
        assertEquals(List.of("a", "\u0085", "\u0085b"), llama3Split("a\u0085\u0085b"));
        assertEquals(List.of("'ſ", " x"), llama3Split("'ſ x"));
    }

    @Test
    void byteTableMapsSpaceNewlineAndHighBytesLikeGpt2() {
        assertEquals("Ġ", byteChar(' '));
        assertEquals("Ċ", byteChar('\n'));
        assertEquals("Ł", byteChar(0x9F));
        assertEquals("ĠĊŁ", ByteLevel.encode(" \n") + byteChar(0x9F));
        assertArrayEquals(new byte[] {' ', '\n', (byte) 0x9F}, ByteLevel.decode("ĠĊŁ"));
    }

    @Test
    void encodesWordsSpacesDigitsAndContractionsAsHandChecked() {
        // "the" → t + he; " cat" → Ġ c a t; "'s" merged; " " alone; "123" → 12 + 3; "4"
        assertArrayEquals(new int[] {'t', HE, ' ', 'c', 'a', 't', APOS_S, ' ', ONE_TWO, '3', '4'},
                llama3Like.encode("the cat's 1234", false));
        // Ġ t → Ġt (rank 0), h e → he (1), Ġt he → Ġthe (2)
        assertArrayEquals(new int[] {BOT, G_THE}, llama3Like.encode(" the", true));
    }

    @Test
    void encodesMultiByteCharactersAsTheirBytesWithMerges() {
        // 🦙 = F0 9F A6 99: "ð" + 0x9F merge, then two single bytes; é = C3 A9
        assertArrayEquals(new int[] {' ', EMOJI_PREFIX, 0xA6, 0x99}, llama3Like.encode(" 🦙", false));
        assertArrayEquals(new int[] {0xC3, 0xA9}, llama3Like.encode("é", false));
    }

    @Test
    void specialTokenInsideTextIsOneIdAndSplitsTheWords() {
        assertArrayEquals(new int[] {'h', 'i', EOT, 't', HE, 'r', 'e'}, llama3Like.encode("hi<|eot|>there", false));
    }

    @Test
    void ignoreMergesTakesAWordThatIsInTheVocabularyWhole() throws IOException {
        assertArrayEquals(new int[] {ABC, ' ', 'a', 'b', 'c'}, llama3Like.encode("abc abc", false));
        HfTokenizer strict = write("no-ignore", byteLevelJson(false, llama3PreTokenizer()));
        assertArrayEquals(new int[] {'a', 'b', 'c'}, strict.encode("abc", false));
    }

    @Test
    void decodeRoundTripsEmojiSpecialTokensAndNewlines() {
        String text = "the cat's 1234 🦙 é\n\n<|eot|> DON'T\u3000stop";
        int[] ids = llama3Like.encode(text, true);
        assertEquals(BOT, ids[0]);
        assertEquals(text, llama3Like.decode(ids));
        assertArrayEquals(new byte[] {(byte) 0xF0}, llama3Like.pieceBytes(BOT, 0xF0));
    }

    @Test
    void bosComesFromTheTemplateAndConfigOverridesIt() throws IOException {
        assertEquals(BOT, llama3Like.bosId());
        assertEquals(-1, llama3Like.eosId()); // no config, no trailing template token, no known EOS name
        Path dir = Files.createDirectories(tmp.resolve("with-config"));
        new ObjectMapper().writeValue(dir.resolve("tokenizer.json").toFile(), byteLevelJson(true, llama3PreTokenizer()));
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"bos_token\": null, \"eos_token\": {\"content\": \"<|eot|>\"}, \"add_bos_token\": false}");
        HfTokenizer qwenLike = HfTokenizer.read(dir.resolve("tokenizer.json"));
        assertEquals(-1, qwenLike.bosId());
        assertEquals(EOT, qwenLike.eosId());
        assertArrayEquals(new int[] {'t', HE}, qwenLike.encode("the", true)); // asked for BOS, has none
    }

    @Test
    void plainByteLevelPreTokenizerUsesTheGpt2PatternAndOptionalPrefixSpace() throws IOException {
        ObjectNode gpt2 = new ObjectMapper().createObjectNode().put("type", "ByteLevel")
                .put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", true);
        HfTokenizer t = write("gpt2", byteLevelJson(false, gpt2));
        // GPT-2 pattern: "the", " the", "'s", " 1234" (digits run whole, no {1,3})
        assertArrayEquals(new int[] {'t', HE, G_THE, APOS_S, ' ', ONE_TWO, '3', '4'}, t.encode("the the's 1234", false));
        gpt2.put("add_prefix_space", true);
        HfTokenizer prefixed = write("gpt2-prefix", byteLevelJson(false, gpt2));
        assertArrayEquals(new int[] {G_THE}, prefixed.encode("the", false));
    }
}
