package io.vq4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.core.InputException;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cTokenizerTest {
    private static Llama2cTokenizer tok;
    private static JsonNode ref;

    @BeforeAll
    static void load() throws IOException {
        tok = Llama2cTokenizer.read(SharedData.tok512());
        ref = new ObjectMapper().readTree(SharedData.referenceOutputs().toFile());
    }

    static int[] ints(JsonNode n) {
        int[] a = new int[n.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = n.get(i).asInt();
        }
        return a;
    }

    @Test
    void encodesReferenceSentenceLikeRunC() {
        JsonNode check = ref.get("encode_check");
        assertArrayEquals(ints(check.get("ids")), tok.encode(check.get("text").asText(), true));
    }

    @Test
    void encodesPerplexityPrefixToReferenceTokenCount() throws IOException {
        JsonNode p = ref.get("perplexity_tinystories");
        byte[] all = Files.readAllBytes(SharedData.tinyStoriesVal());
        String text = new String(all, 0, p.get("prefix_bytes").asInt(), StandardCharsets.UTF_8);
        int[] ids = tok.encode(text, true);
        assertEquals(p.get("n_tokens").asInt(), ids.length);
        int[] first = ints(p.get("first_ids"));
        assertArrayEquals(first, Arrays.copyOf(ids, first.length));
    }

    @Test
    void decodesGreedyReferenceTokensToReferenceText() {
        JsonNode g = ref.get("greedy_from_bos");
        assertEquals(g.get("text").asText(), tok.decode(ints(g.get("token_ids_including_bos"))));
    }

    @Test
    void byteFallbackRoundTripsNonAsciiText() {
        String text = "Café — naïve 日本 🙂";
        int[] ids = tok.encode(text, true);
        assertTrue(Arrays.stream(ids).anyMatch(i -> i >= 3 && i < 259), "uses byte pieces");
        assertEquals(text, tok.decode(ids));
    }

    @Test
    void emptyTextGivesOnlyBos() {
        assertArrayEquals(new int[] {1}, tok.encode("", true));
        assertArrayEquals(new int[0], tok.encode("", false));
    }

    @Test
    void truncatedFileIsAnInputErrorNamingTheFile(@TempDir Path dir) throws IOException {
        byte[] all = Files.readAllBytes(SharedData.tok512());
        Path cut = dir.resolve("cut.bin");
        Files.write(cut, Arrays.copyOf(all, all.length - 3));
        InputException e = assertThrows(InputException.class, () -> Llama2cTokenizer.read(cut));
        assertTrue(e.getMessage().startsWith(cut.toString()) && e.getMessage().contains("truncated"), e.getMessage());
    }
}
