package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.core.InputException;
import io.vq4j.testing.SharedData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerJsonTest {
    @TempDir
    static Path tmp;
    private static Llama2cTokenizer tok512;
    private static HfTokenizer hf512;
    private static Llama2cTokenizer llama2;
    private static HfTokenizer hfLlama2;

    @BeforeAll
    static void convert() throws IOException {
        tok512 = Llama2cTokenizer.read(SharedData.tok512());
        hf512 = HfTokenizer.read(TokenizerJson.write(tok512, Files.createDirectory(tmp.resolve("t512"))));
        llama2 = Llama2cTokenizer.read(Llama2cTokenizerTest.llama2Tokenizer());
        hfLlama2 = HfTokenizer.read(TokenizerJson.write(llama2, Files.createDirectory(tmp.resolve("llama2"))));
    }

    private static void assertSameIdsAndRoundTrip(Llama2cTokenizer c, HfTokenizer h, String text) {
        int[] expected = c.encode(text, true);
        int[] actual = h.encode(text, true);
        if (!Arrays.equals(expected, actual)) {
            int i = Arrays.mismatch(expected, actual);
            throw new AssertionError("ids differ at " + i + " of " + expected.length + ": llama2.c "
                    + Arrays.toString(Arrays.copyOfRange(expected, Math.max(0, i - 3), Math.min(expected.length, i + 4)))
                    + " hf " + Arrays.toString(Arrays.copyOfRange(actual, Math.max(0, i - 3), Math.min(actual.length, i + 4))));
        }
        assertEquals(text, c.decode(expected));
        assertEquals(text, h.decode(actual));
    }

    @Test
    void convertedTok512GivesLlama2cIdsOnAllOfTinyStoriesVal() throws IOException {
        assertSameIdsAndRoundTrip(tok512, hf512, Files.readString(SharedData.tinyStoriesVal()));
    }

    @Test
    void convertedTok512GivesLlama2cIdsOnWikitextWithUnkAndOnRawNonAsciiText() throws IOException {
        assertSameIdsAndRoundTrip(tok512, hf512, Files.readString(SharedData.file("wikitext-2/test.txt")));
        assertSameIdsAndRoundTrip(tok512, hf512, Files.readString(SharedData.file("wikitext-2-raw/wiki.test.raw")));
    }

    @Test
    void convertedLlama2GivesLlama2cIdsOnThreeHundredKilobytesOfWikitext() throws IOException {
        String raw = Files.readString(SharedData.file("wikitext-2-raw/wiki.test.raw"));
        assertSameIdsAndRoundTrip(llama2, hfLlama2, raw.substring(0, 300_000));
        String tokenized = Files.readString(SharedData.file("wikitext-2/test.txt"));
        assertSameIdsAndRoundTrip(llama2, hfLlama2, tokenized.substring(0, 100_000));
    }

    @Test
    void convertedLlama2AgreesOnTiedSpaceRunsAndShortEdgeTexts() {
        for (int n = 0; n <= 40; n++) {
            String run = " ".repeat(n);
            for (String s : new String[] {run, "x" + run + "y", run + "word", "\n" + run + "\tz"}) {
                assertArrayEquals(llama2.encode(s, false), hfLlama2.encode(s, false), "[" + s + "]");
            }
        }
        for (String s : new String[] {"", "a", " ", "Ж😀 naïve", "\u0000\u0001", "ünïcödé – “x”"}) {
            assertArrayEquals(llama2.encode(s, true), hfLlama2.encode(s, true), s);
            assertArrayEquals(tok512.encode(s, true), hf512.encode(s, true), s);
        }
    }

    @Test
    void convertedLlama2AgreesOnRandomChunksOfRealText() throws IOException {
        for (String s : Llama2cTokenizerTest.chunks(300, 400, 7)) {
            assertArrayEquals(llama2.encode(s, true), hfLlama2.encode(s, true), s);
            assertArrayEquals(tok512.encode(s, false), hf512.encode(s, false), s);
        }
    }

    @Test
    void tiedScoresOfDifferentPiecesAreTheOneCaseRanksCannotExpress() throws IOException {
        // "ab" and "ba" share a score: llama2.c takes the leftmost tied pair, HF the earlier
        // rule ("ab", lower id). They agree on "aba" and must differ on "bab".
        Path f = Llama2cTokenizerTest.tinyVocab(tmp, new String[] {"ab", "ba"}, new float[] {-1, -1});
        Llama2cTokenizer c = Llama2cTokenizer.read(f);
        HfTokenizer h = HfTokenizer.read(TokenizerJson.write(c, Files.createDirectory(tmp.resolve("tie"))));
        assertArrayEquals(c.encode("aba", false), h.encode("aba", false));
        assertArrayEquals(new int[] {259, 263, 261}, c.encode("bab", false));
        assertArrayEquals(new int[] {259, 261, 262}, h.encode("bab", false));
    }

    @Test
    void writtenFilesHaveTheFieldsHuggingFaceTokenizersReads() throws IOException {
        Path dir = tmp.resolve("t512");
        JsonNode root = new ObjectMapper().readTree(dir.resolve("tokenizer.json").toFile());
        JsonNode model = root.get("model");
        assertEquals("BPE", model.get("type").asText());
        assertTrue(model.get("byte_fallback").asBoolean());
        assertEquals("<unk>", model.get("unk_token").asText());
        assertEquals(512, model.get("vocab").size());
        assertEquals(3, model.get("vocab").get("<0x00>").asInt());
        assertEquals(410, model.get("vocab").get("\u2581").asInt());
        assertTrue(model.get("merges").get(0).asText().matches("\\S+ \\S+"));
        assertEquals("Prepend", root.at("/normalizer/normalizers/0/type").asText());
        assertEquals("Strip", root.at("/decoder/decoders/3/type").asText());
        assertEquals("<s>", root.at("/added_tokens/0/content").asText());
        assertTrue(root.at("/added_tokens/0/special").asBoolean());
        assertEquals(1, root.at("/post_processor/special_tokens/<s>/ids/0").asInt());
        JsonNode config = new ObjectMapper().readTree(dir.resolve("tokenizer_config.json").toFile());
        assertEquals("<s>", config.get("bos_token").asText());
        assertEquals("</s>", config.get("eos_token").asText());
        assertTrue(config.get("add_bos_token").asBoolean());
        assertEquals(1, hf512.bosId());
        assertEquals(2, hf512.eosId());
        assertTrue(hf512.addBosByDefault());
    }

    @Test
    void writingAgainReplacesTheFilesAndLeavesNoTemporaries() throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("again"));
        Files.writeString(dir.resolve("tokenizer.json"), "stale");
        TokenizerJson.write(tok512, dir);
        TokenizerJson.write(tok512, dir);
        try (var files = Files.list(dir)) {
            assertEquals(java.util.List.of("tokenizer.json", "tokenizer_config.json"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertArrayEquals(hf512.encode("Once upon", true), HfTokenizer.read(dir.resolve("tokenizer.json")).encode("Once upon", true));
    }

    @Test
    void vocabularyThatTokenizerJsonCannotHoldIsAnInputErrorNamingTheFile() throws IOException {
        // piece 262 = " a" collides with nothing, but "▁a" written literally collides after the space mapping
        Path f = Llama2cTokenizerTest.tinyVocab(tmp, new String[] {" a", "\u2581a"}, new float[] {-1, -2});
        Llama2cTokenizer c = Llama2cTokenizer.read(f);
        InputException e = assertThrows(InputException.class, () -> TokenizerJson.write(c, tmp));
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("tokenizer.json")));
    }
}
