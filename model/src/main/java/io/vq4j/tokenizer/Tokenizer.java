package io.vq4j.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Text to token ids and back. */
public interface Tokenizer {
    int vocabSize();

    int bosId();

    int eosId();

    /** Encodes the text; with {@code addBos} the BOS id comes first. Never adds EOS. */
    int[] encode(String text, boolean addBos);

    /**
     * The raw bytes that {@code token} contributes when it follows {@code prevToken}, for
     * streaming output (byte-fallback tokens give single bytes that may be parts of one UTF-8
     * character; the leading space of the first piece after BOS is dropped, as llama2.c does).
     */
    byte[] pieceBytes(int prevToken, int token);

    /** Decodes a whole sequence; a leading BOS is skipped. */
    default String decode(int[] tokens) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int prev = bosId();
        for (int i = 0; i < tokens.length; i++) {
            int t = tokens[i];
            if (i == 0 && t == bosId()) {
                continue;
            }
            out.writeBytes(pieceBytes(prev, t));
            prev = t;
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
