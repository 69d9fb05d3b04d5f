package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sentencepiece-style tokenizer.json in the newer layout (Metaspace pre-tokenizer, as
 * transformers writes for Llama/Mistral with legacy=false), and every way a file can be
 * rejected.
 */
class HfSentencePieceTest {
    @TempDir
    Path tmp;

    /** ids: 0 <unk>, 1 <s>, 2 </s>, 3.. <0x00>..<0xFF>, 259 ▁, 260 a, 261 b, 262 ▁a, 263 ab. */
    static ObjectNode metaspaceJson(String scheme) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.putArray("added_tokens").add(HfByteLevelTest.special(1, "<s>"));
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁")
                .put("prepend_scheme", scheme).put("split", false);
        var decoders = root.putObject("decoder").put("type", "Sequence").putArray("decoders");
        decoders.addObject().put("type", "ByteFallback");
        decoders.addObject().put("type", "Metaspace").put("replacement", "▁").put("prepend_scheme", scheme);
        ObjectNode model = root.putObject("model").put("type", "BPE").put("unk_token", "<unk>")
                .put("byte_fallback", true).put("fuse_unk", true);
        ObjectNode vocab = model.putObject("vocab").put("<unk>", 0).put("<s>", 1).put("</s>", 2);
        for (int b = 0; b < 256; b++) {
            vocab.put(String.format("<0x%02X>", b), 3 + b);
        }
        vocab.put("▁", 259).put("a", 260).put("b", 261).put("▁a", 262).put("ab", 263);
        model.putArray("merges").add("▁ a").add("a b");
        return root;
    }

    private HfTokenizer write(String name, ObjectNode json) throws IOException {
        Path f = Files.createDirectories(tmp.resolve(name)).resolve("tokenizer.json");
        new ObjectMapper().writeValue(f.toFile(), json);
        return HfTokenizer.read(f);
    }

    @Test
    void metaspaceFirstPrependsOnlyAtTheStartAndNotBeforeAnExistingSpace() throws IOException {
        HfTokenizer t = write("first", metaspaceJson("first"));
        assertArrayEquals(new int[] {262, 261}, t.encode("ab", false)); // ▁a b: "▁ a" outranks "a b"
        assertArrayEquals(new int[] {262, 261}, t.encode(" ab", false)); // no second ▁
        assertArrayEquals(new int[] {262, 1, 263}, t.encode("a<s>ab", false)); // not after <s>
        assertArrayEquals(new int[] {262, 3 + 0xD0, 3 + 0x96}, t.encode("aЖ", false)); // byte fallback
        assertEquals("aЖ", t.decode(t.encode("aЖ", false)));
        HfTokenizer always = write("always", metaspaceJson("always"));
        assertArrayEquals(new int[] {262, 1, 262, 261}, always.encode("a<s>ab", false));
    }

    @Test
    void unknownCharacterWithoutByteFallbackBecomesOneFusedUnk() throws IOException {
        ObjectNode json = metaspaceJson("first");
        ((ObjectNode) json.get("model")).put("byte_fallback", false);
        assertArrayEquals(new int[] {262, 0, 260}, write("unk", json).encode("aЖЖa", false));
    }

    private void assertRejected(String name, ObjectNode json, String feature) throws IOException {
        Path f = Files.createDirectories(tmp.resolve(name)).resolve("tokenizer.json");
        new ObjectMapper().writeValue(f.toFile(), json);
        InputException e = assertThrows(InputException.class, () -> HfTokenizer.read(f));
        assertTrue(e.getMessage().startsWith(f + ": ") && e.getMessage().contains(feature), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test
    void unsupportedModelsNormalizersPreTokenizersAndDecodersNameTheFileAndFeature() throws IOException {
        ObjectNode wp = metaspaceJson("first");
        ((ObjectNode) wp.get("model")).put("type", "WordPiece");
        assertRejected("wp", wp, "model type WordPiece");
        ObjectNode uni = metaspaceJson("first");
        ((ObjectNode) uni.get("model")).put("type", "Unigram");
        assertRejected("uni", uni, "model type Unigram");
        ObjectNode norm = metaspaceJson("first");
        norm.putObject("normalizer").put("type", "Precompiled");
        assertRejected("norm", norm, "normalizer type Precompiled");
        ObjectNode pre = metaspaceJson("first");
        pre.putObject("pre_tokenizer").put("type", "Whitespace");
        assertRejected("pre", pre, "pre_tokenizer type Whitespace");
        ObjectNode dec = metaspaceJson("first");
        dec.putObject("decoder").put("type", "WordPiece");
        assertRejected("dec", dec, "decoder type WordPiece");
        ObjectNode regex = metaspaceJson("first");
        ObjectNode split = regex.putObject("pre_tokenizer").put("type", "Split").put("behavior", "Isolated");
        split.putObject("pattern").put("Regex", "a\\Kb");
        assertRejected("regex", regex, "\\K");
        ObjectNode suffix = metaspaceJson("first");
        ((ObjectNode) suffix.get("model")).put("end_of_word_suffix", "</w>");
        assertRejected("suffix", suffix, "end_of_word_suffix");
    }

    @Test
    void brokenFilesAreInputErrorsNamingTheFile() throws IOException {
        ObjectNode merge = metaspaceJson("first");
        ((com.fasterxml.jackson.databind.node.ArrayNode) merge.at("/model/merges")).add("a zz");
        assertRejected("merge", merge, "merges[2]");
        ObjectNode unk = metaspaceJson("first");
        ((ObjectNode) unk.get("model")).put("unk_token", "<nope>");
        assertRejected("unk", unk, "<nope>");
        Path bad = tmp.resolve("bad.json");
        Files.writeString(bad, "{\"model\": [1, 2,");
        InputException e = assertThrows(InputException.class, () -> HfTokenizer.read(bad));
        assertTrue(e.getMessage().startsWith(bad + ": not valid JSON"), e.getMessage());
        Path missing = tmp.resolve("missing.json");
        assertTrue(assertThrows(InputException.class, () -> HfTokenizer.read(missing)).getMessage().startsWith(missing + ": "));
    }

    @Test
    void configNamingATokenThatDoesNotExistNamesTheConfigFile() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("cfg"));
        new ObjectMapper().writeValue(dir.resolve("tokenizer.json").toFile(), metaspaceJson("first"));
        Path cfg = dir.resolve("tokenizer_config.json");
        Files.writeString(cfg, "{\"bos_token\": \"<bos>\"}");
        InputException e = assertThrows(InputException.class, () -> HfTokenizer.read(dir.resolve("tokenizer.json")));
        assertTrue(e.getMessage().startsWith(cfg + ": "), e.getMessage());
    }

    @Test
    void characterWithNoTokenAndNoUnkIsAnInputErrorAtEncode() throws IOException {
        ObjectNode json = metaspaceJson("first");
        ((ObjectNode) json.get("model")).put("byte_fallback", false).putNull("unk_token");
        Path f = Files.createDirectories(tmp.resolve("nounk")).resolve("tokenizer.json");
        new ObjectMapper().writeValue(f.toFile(), json);
        HfTokenizer t = HfTokenizer.read(f);
        InputException e = assertThrows(InputException.class, () -> t.encode("aЖ", false));
        assertTrue(e.getMessage().startsWith(f + ": ") && e.getMessage().contains("U+416"), e.getMessage());
    }
}
