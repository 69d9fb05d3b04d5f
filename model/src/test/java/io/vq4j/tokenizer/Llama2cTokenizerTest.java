package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.core.InputException;
import io.vq4j.testing.SharedData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Llama2cTokenizerTest {
    private static Llama2cTokenizer tok512;
    private static JsonNode reference;

    @BeforeAll
    static void load() throws IOException {
        tok512 = Llama2cTokenizer.read(SharedData.tok512());
        reference = new ObjectMapper().readTree(SharedData.referenceOutputs().toFile());
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    @Test
    void readsAllFiveHundredTwelvePiecesWithBosAndEos() {
        assertEquals(512, tok512.vocabSize());
        assertEquals(7, tok512.maxTokenLength());
        assertEquals("\n<s>\n", new String(tok512.piece(1), StandardCharsets.UTF_8));
        assertEquals(1, tok512.bosId());
        assertEquals(2, tok512.eosId());
    }

    @Test
    void encodeCheckSentenceGivesTheReferenceIds() {
        JsonNode check = reference.get("encode_check");
        assertArrayEquals(ints(check.get("ids")), tok512.encode(check.get("text").asText(), true));
    }

    @Test
    void perplexityPrefixEncodesToReferenceTokenCountAndFirstIds() throws IOException {
        JsonNode ppl = reference.get("perplexity_tinystories");
        byte[] all = Files.readAllBytes(SharedData.tinyStoriesVal());
        String prefix = new String(all, 0, ppl.get("prefix_bytes").asInt(), StandardCharsets.UTF_8);
        int[] ids = tok512.encode(prefix, true);
        assertEquals(ppl.get("n_tokens").asInt(), ids.length);
        int[] first = ints(ppl.get("first_ids"));
        assertArrayEquals(first, Arrays.copyOf(ids, first.length));
    }

    @Test
    void decodeOfGreedyReferenceTokensGivesReferenceText() {
        JsonNode greedy = reference.get("greedy_from_bos");
        assertEquals(greedy.get("text").asText(), tok512.decode(ints(greedy.get("token_ids_including_bos"))));
    }

    @Test
    void emptyTextHasNoDummyPrefix() {
        assertArrayEquals(new int[] {1}, tok512.encode("", true));
        assertArrayEquals(new int[0], tok512.encode("", false));
    }

    @Test
    void charactersMissingFromVocabFallBackToBytePlusThree() {
        // "Ж" (D0 96) and U+1F600 are not tok512 pieces ("€" is); the dummy prefix " " stays
        // alone because " " + <0xD0> is no piece.
        int[] ids = tok512.encode("Ж😀", false);
        assertArrayEquals(new int[] {410, 0xD0 + 3, 0x96 + 3, 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3}, ids);
        assertEquals("Ж😀", tok512.decode(ids));
    }

    @Test
    void byteTokensDecodeToTheirRawByteAndBosStripsOneLeadingSpace() {
        assertArrayEquals(new byte[] {(byte) 0xE2}, tok512.pieceBytes(410, 0xE2 + 3));
        assertArrayEquals(new byte[0], tok512.pieceBytes(1, 410)); // " " after BOS
        assertArrayEquals(new byte[] {' '}, tok512.pieceBytes(5, 410));
    }

    @Test
    void roundTripsTextThatStartsWithSpacesAndHasNonAscii() {
        for (String s : new String[] {"  two leading", "naïve café — “quotes”\n\nnext", "\t tab", "a"}) {
            assertEquals(s, tok512.decode(tok512.encode(s, true)), s);
        }
    }

    @Test
    void mergesAreLeftmostAmongEqualScores() throws IOException {
        // pieces " "=259, a=260, b=261, ab=262, ba=263 with "ab" and "ba" scored equally:
        // " aba" has the tied pairs a+b and b+a; run.c merges the left one.
        Path f = tinyVocab(tmp, new String[] {"ab", "ba"}, new float[] {-1, -1});
        assertArrayEquals(new int[] {259, 262, 260}, Llama2cTokenizer.read(f).encode("aba", false));
    }

    @TempDir
    static Path tmp;

    /** 259 standard entries, then " ", "a", "b" (scores 0) and the given extra pieces. */
    static Path tinyVocab(Path dir, String[] extra, float[] extraScores) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(8);
        String[] base = new String[259 + 3];
        base[0] = "<unk>";
        base[1] = "\n<s>\n";
        base[2] = "\n</s>\n";
        for (int i = 0; i < 256; i++) {
            base[3 + i] = String.format("<0x%02X>", i);
        }
        base[259] = " ";
        base[260] = "a";
        base[261] = "b";
        for (String s : base) {
            put(b, s, 0f);
        }
        for (int i = 0; i < extra.length; i++) {
            put(b, extra[i], extraScores[i]);
        }
        Path f = Files.createTempFile(dir, "tok", ".bin");
        Files.write(f, Arrays.copyOf(b.array(), b.position()));
        return f;
    }

    private static void put(ByteBuffer b, String s, float score) {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        b.putFloat(score).putInt(u.length).put(u);
    }

    @Test
    void truncatedFileIsAnInputErrorNamingTheFile() throws IOException {
        byte[] all = Files.readAllBytes(SharedData.tok512());
        for (int cut : new int[] {0, 2, 6, 12, all.length - 1}) {
            Path f = tmp.resolve("cut" + cut + ".bin");
            Files.write(f, Arrays.copyOf(all, cut));
            InputException e = assertThrows(InputException.class, () -> Llama2cTokenizer.read(f));
            assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
        }
    }

    @Test
    void negativeOrOversizedLengthsAreInputErrors() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(7).putFloat(0f).putInt(-5);
        Path neg = tmp.resolve("neg.bin");
        Files.write(neg, Arrays.copyOf(b.array(), b.position()));
        assertTrue(assertThrows(InputException.class, () -> Llama2cTokenizer.read(neg)).getMessage().contains("length -5"));
        Path bad = tmp.resolve("badmax.bin");
        Files.write(bad, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(-1).array());
        assertThrows(InputException.class, () -> Llama2cTokenizer.read(bad));
        // a model checkpoint is not a tokenizer: its header gives a token longer than max_token_length
        InputException e = assertThrows(InputException.class, () -> Llama2cTokenizer.read(SharedData.stories260K()));
        assertTrue(e.getMessage().startsWith(SharedData.stories260K() + ": "), e.getMessage());
        Path missing = tmp.resolve("missing.bin");
        assertTrue(assertThrows(InputException.class, () -> Llama2cTokenizer.read(missing)).getMessage().startsWith(missing + ": "));
    }

    static Path llama2Tokenizer() {
        return SharedData.file("llama2-tokenizer/tokenizer.bin");
    }

    /** Random chunks of real text (cut at arbitrary code points) from both corpora. */
    static String[] chunks(int count, int maxChars, long seed) throws IOException {
        String a = Files.readString(SharedData.tinyStoriesVal());
        String b = Files.readString(SharedData.file("wikitext-2-raw/wiki.test.raw"));
        java.util.Random r = new java.util.Random(seed);
        String[] out = new String[count];
        for (int i = 0; i < count; i++) {
            String src = i % 2 == 0 ? a : b;
            int start = r.nextInt(src.length() - maxChars);
            int len = 1 + r.nextInt(maxChars);
            if (Character.isLowSurrogate(src.charAt(start))) {
                start++;
            }
            if (Character.isHighSurrogate(src.charAt(start + len - 1))) {
                len++;
            }
            out[i] = src.substring(start, start + len);
        }
        return out;
    }

    @Test
    void fastEncodeEqualsLiteralRunCOnRandomRealTextForBothVocabularies() throws IOException {
        Llama2cTokenizer llama2 = Llama2cTokenizer.read(llama2Tokenizer());
        for (Llama2cTokenizer t : new Llama2cTokenizer[] {tok512, llama2}) {
            RunCEncode oracle = new RunCEncode(t);
            for (String s : chunks(40, 250, t.vocabSize())) {
                assertArrayEquals(oracle.encode(s, true), t.encode(s, true), s);
            }
        }
    }

    @Test
    void fastEncodeEqualsLiteralRunCOnSpaceRunsWhereLlama2ScoresTie() throws IOException {
        // Llama-2 scores all fifteen space-run pieces "  ".."                " -1e9: a tie that
        // run.c breaks by position.
        Llama2cTokenizer llama2 = Llama2cTokenizer.read(llama2Tokenizer());
        RunCEncode oracle = new RunCEncode(llama2);
        for (int n = 0; n <= 40; n++) {
            String run = " ".repeat(n);
            for (String s : new String[] {run, "x" + run + "y", run + "word", "\n" + run + "\tz"}) {
                assertArrayEquals(oracle.encode(s, false), llama2.encode(s, false), "[" + s + "]");
            }
        }
    }
}
