package io.vq4j.eval;

import io.vq4j.core.InputException;
import io.vq4j.model.KvCache;
import io.vq4j.model.LlamaModel;
import io.vq4j.tokenizer.Tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Text generation: the prompt (with BOS) runs as one batched prefill, then one token at a
 * time through the KV cache. Stops at max tokens, at EOS, at BOS (llama2.c models use BOS as
 * the story delimiter), or when the context is full.
 */
public final class Generator {
    private Generator() {
    }

    public record Result(int[] promptTokens, int[] tokens, String text, double seconds) {
        public double tokensPerSecond() {
            return tokens.length / seconds;
        }
    }

    /** @param onBytes receives each generated token's bytes as they come; may be null */
    public static Result generate(LlamaModel model, Tokenizer tokenizer, String prompt, int maxTokens,
                                  Sampler sampler, Consumer<byte[]> onBytes) {
        int[] promptIds = tokenizer.encode(prompt, true);
        int capacity = model.config().maxSeqLen();
        if (promptIds.length >= capacity) {
            throw new InputException("--prompt: " + promptIds.length
                    + " tokens leave no room in the model's context of " + capacity);
        }
        int vocab = model.config().vocabSize();
        int[] out = new int[Math.max(0, Math.min(maxTokens, capacity - promptIds.length))];
        // the cache holds what this run can reach, not the whole context a config.json may claim
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        int n = 0;
        long t0 = System.nanoTime();
        try (KvCache cache = model.newCache(promptIds.length + out.length)) { // on the device when the model runs there
            if (out.length > 0) {
                float[] logits = model.forward(promptIds, 0, promptIds.length, cache, false);
                int prev = promptIds[promptIds.length - 1];
                while (true) {
                    int next = sampler.next(logits, 0, vocab);
                    if (next == tokenizer.eosId() || next == tokenizer.bosId()) {
                        break;
                    }
                    out[n++] = next;
                    byte[] piece = tokenizer.pieceBytes(prev, next);
                    text.writeBytes(piece);
                    if (onBytes != null) {
                        onBytes.accept(piece);
                    }
                    prev = next;
                    if (n == out.length) {
                        break;
                    }
                    logits = model.forward(out, n - 1, 1, cache, false);
                }
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        return new Result(promptIds, Arrays.copyOf(out, n), text.toString(StandardCharsets.UTF_8), seconds);
    }
}
