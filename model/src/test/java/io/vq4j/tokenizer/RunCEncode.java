package io.vq4j.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A literal, O(n²) transcription of llama2.c run.c {@code encode} (rescan all pairs after every
 * merge, keep the first strictly better score), used only as a test oracle for the fast encoder.
 */
final class RunCEncode {
    private final Map<String, Integer> ids = new HashMap<>();
    private final String[] vocab;
    private final float[] scores;

    RunCEncode(Llama2cTokenizer t) {
        vocab = new String[t.vocabSize()];
        scores = new float[t.vocabSize()];
        for (int i = 0; i < vocab.length; i++) {
            vocab[i] = new String(t.piece(i), StandardCharsets.ISO_8859_1);
            scores[i] = t.score(i);
            ids.putIfAbsent(vocab[i], i);
        }
    }

    int[] encode(String text, boolean bos) {
        byte[] u = text.getBytes(StandardCharsets.UTF_8);
        List<Integer> tokens = new ArrayList<>();
        if (bos) {
            tokens.add(1);
        }
        if (u.length > 0) {
            tokens.add(ids.get(" "));
        }
        StringBuilder buf = new StringBuilder();
        for (int c = 0; c < u.length; c++) {
            if ((u[c] & 0xC0) != 0x80) {
                buf.setLength(0);
            }
            buf.append((char) (u[c] & 0xFF));
            if (c + 1 < u.length && (u[c + 1] & 0xC0) == 0x80 && buf.length() < 4) {
                continue;
            }
            Integer id = ids.get(buf.toString());
            if (id != null) {
                tokens.add(id);
            } else {
                for (int i = 0; i < buf.length(); i++) {
                    tokens.add(buf.charAt(i) + 3);
                }
            }
            buf.setLength(0);
        }
        while (true) {
            float best = -1e10f;
            int bestId = -1;
            int bestIdx = -1;
            for (int i = 0; i < tokens.size() - 1; i++) {
                Integer id = ids.get(vocab[tokens.get(i)] + vocab[tokens.get(i + 1)]);
                if (id != null && scores[id] > best) {
                    best = scores[id];
                    bestId = id;
                    bestIdx = i;
                }
            }
            if (bestIdx == -1) {
                break;
            }
            tokens.set(bestIdx, bestId);
            tokens.remove(bestIdx + 1);
        }
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }
}
