package io.vq4j.eval;

import io.vq4j.core.InputException;
import io.vq4j.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads a UTF-8 text file, optionally only its first N bytes (cut back to a character
 * boundary), and tokenizes it the one way evaluation texts are: the whole text at once, BOS
 * only at the very start.
 */
public final class TextInput {
    private TextInput() {
    }

    /** A text as read and its token ids. */
    public record Encoded(String text, int[] ids) {
    }

    /** The text of {@code file} (see {@link #read}) and its tokens, with BOS before the first. */
    public static Encoded encode(Path file, long limitBytes, Tokenizer tokenizer) {
        String text = read(file, limitBytes);
        return new Encoded(text, tokenizer.encode(text, true));
    }

    /** The tokens of {@code file}'s text (see {@link #encode}). */
    public static int[] tokens(Path file, long limitBytes, Tokenizer tokenizer) {
        return encode(file, limitBytes, tokenizer).ids();
    }

    public static String read(Path file, long limitBytes) {
        if (!Files.isRegularFile(file)) {
            throw InputException.at(file, "no such file");
        }
        byte[] all;
        try {
            all = Files.readAllBytes(file);
        } catch (IOException e) {
            throw InputException.at(file, "cannot read: " + e.getMessage());
        }
        int n = all.length;
        if (limitBytes > 0 && limitBytes < n) {
            n = (int) limitBytes;
            while (n > 0 && (all[n] & 0xC0) == 0x80) {
                n--; // do not split a UTF-8 sequence
            }
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(all, 0, n)).toString();
        } catch (CharacterCodingException e) {
            throw InputException.at(file, "is not valid UTF-8 text");
        }
    }
}
