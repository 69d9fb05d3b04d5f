package io.vq4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.vq4j.testing.SharedData;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * WordPiece against the Hugging Face {@code tokenizers} library (Rust, through DJL's binding)
 * on all-MiniLM-L6-v2's tokenizer.json as the langchain4j jar ships it. The library instance is
 * built the way langchain4j's OnnxBertBiEncoder builds its own (the json as it is, padding off),
 * since langchain4j keeps that instance private; so these are the ids langchain4j feeds ONNX
 * Runtime. Texts: every line of WikiText-2 test, tokenized and raw, and hand-picked hard cases.
 */
class WordPieceReferenceTest {
    static byte[] minilmTokenizerJson() throws IOException {
        try (InputStream in = WordPieceReferenceTest.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
            assertTrue(in != null, "all-minilm-l6-v2-tokenizer.json is on the test classpath (langchain4j jar)");
            return in.readAllBytes();
        }
    }

    static final List<String> HARD = List.of("Héllo, WORLD! naïve café", "unaffable [SEP] x", "中文abc",
            "\ud86e\udc30x", "\ud86e\udd30x", "ΣΑΣ", "İstanbul", "a\u00a0b\u2007c", "don't $5 ^_^ ~",
            "\u0085x\u000by\u200bz", "x".repeat(100), "x".repeat(101), "ﬁne ℌ ½ ² Ⅻ", "\ud83d\ude00 smile",
            "a\u0000b\ufffdc", "Ǆ ǅ ẞ ß", "\ue000 private", "[CLS][MASK] [UNK]x [PAD]", "", "word ".repeat(300));

    @Test
    void idsMatchTheHuggingFaceLibraryOnEveryWikiTextLine() throws Exception {
        byte[] json = minilmTokenizerJson();
        WordPiece mine = WordPiece.parse(json, Path.of("all-minilm-l6-v2-tokenizer.json"));
        assertEquals(128, mine.maxLength(), "the shipped file truncates at 128 tokens");
        List<String> texts = new ArrayList<>(HARD);
        texts.addAll(Files.readAllLines(SharedData.file("wikitext-2/test.txt")));
        texts.addAll(Files.readAllLines(SharedData.file("wikitext-2-raw/wiki.test.raw")));
        int truncated = 0;
        try (HuggingFaceTokenizer ref = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json),
                Map.of("padding", "false"))) {
            for (String text : texts) {
                long[] expected = ref.encode(text).getIds();
                int[] got = mine.encode(text);
                assertArrayEquals(expected, Arrays.stream(got).asLongStream().toArray(),
                        () -> "ids differ for: " + text.substring(0, Math.min(200, text.length())));
                truncated += got.length == 128 ? 1 : 0;
            }
        }
        assertTrue(texts.size() > 8000 && truncated > 100, texts.size() + " texts, " + truncated + " truncated");
        assertArrayEquals(new int[] {101, 7592, 1010, 2088, 999, 15743, 7668, 102}, mine.encode(HARD.getFirst()));
    }
}
