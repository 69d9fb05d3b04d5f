package io.vq4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.vq4j.testing.InputErrors;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Vocabularies as GGUF's llama tokenizer keys hold them, from llama2.c tokenizer.bin and from
 * sentencepiece-style tokenizer.json, and back: the tokenizer read back encodes like the one
 * it came from.
 */
class GgufVocabTest {
    @TempDir
    static Path tmp;
    static Llama2cTokenizer tok512;
    static Llama2cTokenizer llama2;
    static String tinyStories;
    static String wikiText;

    @BeforeAll
    static void read() throws IOException {
        tok512 = Llama2cTokenizer.read(SharedData.tok512());
        llama2 = Llama2cTokenizer.read(Llama2cTokenizerTest.llama2Tokenizer());
        tinyStories = Files.readString(SharedData.tinyStoriesVal()).substring(0, 60_000);
        wikiText = Files.readString(SharedData.file("wikitext-2/test.txt")).substring(0, 60_000);
    }

    @Test
    void llama2cPiecesBecomeSentencepieceTokensWithTypes() {
        GgufVocab v = GgufVocab.of(tok512);
        assertEquals(512, v.tokens().length);
        assertEquals("<unk>", v.tokens()[0]);
        assertEquals("<s>", v.tokens()[1]);
        assertEquals("</s>", v.tokens()[2]);
        assertEquals("<0x0A>", v.tokens()[3 + 10]);
        assertEquals(GgufVocab.UNKNOWN, v.types()[0]);
        assertEquals(GgufVocab.CONTROL, v.types()[1]);
        assertEquals(GgufVocab.CONTROL, v.types()[2]);
        assertEquals(GgufVocab.BYTE, v.types()[3 + 255]);
        for (int id = 259; id < 512; id++) {
            assertEquals(GgufVocab.NORMAL, v.types()[id]);
            assertEquals(tok512.score(id), v.scores()[id]);
            assertEquals(new String(tok512.piece(id), StandardCharsets.UTF_8).replace(" ", "\u2581"),
                    v.tokens()[id]);
        }
        assertEquals(1, v.bos());
        assertEquals(2, v.eos());
        assertEquals(0, v.unk());
    }

    @Test
    void aLlama2cVocabularyReadBackEncodesAsBefore() {
        for (Llama2cTokenizer t : new Llama2cTokenizer[] {tok512, llama2}) {
            Llama2cTokenizer back = GgufVocab.of(t).tokenizer(Path.of("x.gguf"));
            for (String text : new String[] {tinyStories, wikiText, "", " ", "  a\n\tb  ", "héllo wörld ☃ 𝄞"}) {
                assertArrayEquals(t.encode(text, true), back.encode(text, true), t.source().toString());
            }
        }
    }

    /** tokenizer.json has merge ranks, not scores: scores from the ranks must merge the same way. */
    @Test
    void aSentencepieceTokenizerJsonReadBackEncodesAsTheHfTokenizer() throws IOException {
        for (Llama2cTokenizer t : new Llama2cTokenizer[] {tok512, llama2}) {
            Path dir = Files.createDirectories(tmp.resolve("json-" + t.vocabSize()));
            Path json = TokenizerJson.write(t, dir);
            HfTokenizer hf = HfTokenizer.read(json);
            GgufVocab v = GgufVocab.ofTokenizerJson(json, hf.bosId(), hf.eosId());
            assertEquals(GgufVocab.CONTROL, v.types()[1]);
            assertEquals(GgufVocab.UNKNOWN, v.types()[0]);
            assertEquals(GgufVocab.BYTE, v.types()[3]);
            Llama2cTokenizer back = v.tokenizer(json);
            for (String text : new String[] {tinyStories, wikiText, "héllo wörld ☃ 𝄞"}) {
                assertArrayEquals(hf.encode(text, true), back.encode(text, true), json.toString());
            }
        }
    }

    @Test
    void byteLevelTokenizerJsonIsRefusedInOneLine() throws IOException {
        Path json = tmp.resolve("gpt2.json");
        Files.writeString(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                + " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
        InputErrors.fails(json, "byte-level (GPT-2 style)", () -> GgufVocab.ofTokenizerJson(json, -1, 0));
        Path noFallback = tmp.resolve("nofallback.json");
        Files.writeString(noFallback, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
        InputErrors.fails(noFallback, "no byte_fallback", () -> GgufVocab.ofTokenizerJson(noFallback, -1, 0));
    }

    @Test
    void otherLayoutsAreRefusedInOneLine() {
        GgufVocab v = GgufVocab.of(tok512);
        Path p = Path.of("m.gguf");
        GgufVocab bos = new GgufVocab(v.tokens(), v.scores(), v.types(), 5, 2, 0);
        InputErrors.fails(p, "BOS 5 and EOS 2", () -> bos.tokenizer(p));
        String[] moved = v.tokens().clone();
        moved[3] = "x";
        GgufVocab bytes = new GgufVocab(moved, v.scores(), v.types(), 1, 2, 0);
        InputErrors.fails(p, "not the byte token <0x00>", () -> bytes.tokenizer(p));
    }
}
