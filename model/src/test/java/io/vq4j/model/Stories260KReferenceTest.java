package io.vq4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.model.Llama2cCheckpoint;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The CPU model against values computed by an independent float64 port of llama2.c run.c. */
class Stories260KReferenceTest {
    private static LlamaModel model;
    private static JsonNode ref;

    @BeforeAll
    static void load() throws IOException {
        model = LlamaModel.of(Llama2cCheckpoint.read(SharedData.stories260K()));
        ref = new ObjectMapper().readTree(SharedData.referenceOutputs().toFile());
    }

    private static int[] ints(JsonNode n) {
        int[] a = new int[n.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = n.get(i).asInt();
        }
        return a;
    }

    @Test
    void logitsAfterBosMatchReferenceTo1e4() {
        float[] logits = model.forward(new int[] {1}, 0, 1, model.newCache(8), false);
        JsonNode expected = ref.get("first_step_logits_after_bos").get("logits");
        assertEquals(expected.size(), logits.length);
        double worst = 0;
        for (int i = 0; i < logits.length; i++) {
            worst = Math.max(worst, Math.abs(logits[i] - expected.get(i).asDouble()));
        }
        assertEquals(0, worst, 1e-4, "max |logit - reference|");
    }

    @Test
    void greedyDecodingFromBosReproducesReferenceTokens() {
        int[] expected = ints(ref.get("greedy_from_bos").get("token_ids_including_bos"));
        KvCache cache = model.newCache(model.config().maxSeqLen());
        int[] got = new int[expected.length];
        got[0] = 1;
        for (int i = 1; i < got.length; i++) {
            float[] logits = model.forward(got, i - 1, 1, cache, false);
            got[i] = argmax(logits, 0, logits.length);
        }
        assertArrayEquals(expected, got);
    }

    @Test
    void batchedForwardGivesReferenceArgmaxAndTop5() {
        JsonNode check = ref.get("encode_check");
        int[] ids = ints(check.get("ids"));
        float[] logits = model.forward(ids, 0, ids.length, model.newCache(ids.length), true);
        int vocab = model.config().vocabSize();
        int[] argmax = new int[ids.length];
        for (int t = 0; t < ids.length; t++) {
            argmax[t] = argmax(logits, t * vocab, vocab);
        }
        assertArrayEquals(ints(check.get("argmax_next_token_per_position")), argmax);
        int last = (ids.length - 1) * vocab;
        for (JsonNode pair : check.get("logits_last_position_top5")) {
            assertEquals(pair.get(1).asDouble(), logits[last + pair.get(0).asInt()], 1e-4);
        }
    }

    @Test
    void batchedPrefillEqualsTokenByTokenDecoding() {
        int[] ids = ints(ref.get("greedy_from_bos").get("token_ids_including_bos"));
        int n = 40;
        int vocab = model.config().vocabSize();
        float[] batched = model.forward(ids, 0, n, model.newCache(n), true);
        KvCache cache = model.newCache(n);
        float[] twoChunks = new float[n * vocab];
        float[] first = model.forward(ids, 0, 17, cache, true);
        float[] second = model.forward(ids, 17, n - 17, cache, true);
        System.arraycopy(first, 0, twoChunks, 0, first.length);
        System.arraycopy(second, 0, twoChunks, first.length, second.length);
        KvCache step = model.newCache(n);
        for (int t = 0; t < n; t++) {
            float[] one = model.forward(ids, t, 1, step, false);
            for (int i = 0; i < vocab; i++) {
                assertEquals(batched[t * vocab + i], one[i], 1e-5, "position " + t + " token " + i);
                assertEquals(batched[t * vocab + i], twoChunks[t * vocab + i], 1e-5);
            }
        }
    }

    static int argmax(float[] a, int from, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (a[from + i] > a[from + best]) {
                best = i;
            }
        }
        return best;
    }
}
