package io.vq4j.tokenizer;

import io.vq4j.core.InputException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * The llama2.c {@code tokenizer.bin}: int32 max_token_length, then per token float32 score,
 * int32 length, bytes. Encoding follows llama2.c run.c: a dummy-prefix space, one piece per
 * UTF-8 code point (byte fallback id = byte + 3 when the code point is not a piece), then
 * repeatedly merge the adjacent pair whose concatenation has the best score, leftmost first.
 * The merges run on a linked list with a priority queue, which gives the same result as
 * run.c's quadratic scan.
 */
public final class Llama2cTokenizer implements Tokenizer {
    private static final int BYTE_FALLBACK_OFFSET = 3;
    private final byte[][] pieces;
    private final float[] scores;
    private final Map<String, Integer> ids;
    private final int maxTokenLength;

    public Llama2cTokenizer(byte[][] pieces, float[] scores, int maxTokenLength) {
        this.pieces = pieces;
        this.scores = scores;
        this.maxTokenLength = maxTokenLength;
        this.ids = new HashMap<>(pieces.length * 2);
        for (int i = pieces.length - 1; i >= 0; i--) { // run.c's bsearch finds some match; keep the first id
            ids.put(key(pieces[i], 0, pieces[i].length), i);
        }
    }

    public static Llama2cTokenizer read(Path file) {
        byte[] all;
        try {
            all = Files.readAllBytes(file);
        } catch (IOException e) {
            throw InputException.at(file, "cannot read tokenizer: " + e.getMessage());
        }
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() < 4) {
            throw InputException.at(file, "too short for a llama2.c tokenizer");
        }
        int maxLen = b.getInt();
        if (maxLen <= 0 || maxLen > 1 << 16) {
            throw InputException.at(file, "not a llama2.c tokenizer: max_token_length " + maxLen);
        }
        java.util.List<byte[]> pieces = new java.util.ArrayList<>();
        java.util.List<Float> scores = new java.util.ArrayList<>();
        while (b.hasRemaining()) {
            if (b.remaining() < 8) {
                throw InputException.at(file, "truncated at token " + pieces.size() + " (byte " + b.position() + ")");
            }
            float score = b.getFloat();
            int len = b.getInt();
            if (len < 0 || len > b.remaining()) {
                throw InputException.at(file, "token " + pieces.size() + " has length " + len + " but "
                        + b.remaining() + " bytes remain (truncated or not a tokenizer)");
            }
            byte[] p = new byte[len];
            b.get(p);
            pieces.add(p);
            scores.add(score);
        }
        if (pieces.size() < BYTE_FALLBACK_OFFSET + 256) {
            throw InputException.at(file, "has " + pieces.size() + " tokens; a llama2.c tokenizer needs at least 259"
                    + " (3 specials and 256 byte pieces)");
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        return new Llama2cTokenizer(pieces.toArray(byte[][]::new), s, maxLen);
    }

    private static String key(byte[] a, int from, int to) {
        return new String(a, from, to - from, StandardCharsets.ISO_8859_1);
    }

    public int maxTokenLength() {
        return maxTokenLength;
    }

    public byte[] piece(int id) {
        return pieces[id].clone();
    }

    public float score(int id) {
        return scores[id];
    }

    @Override
    public int vocabSize() {
        return pieces.length;
    }

    @Override
    public int bosId() {
        return 1;
    }

    @Override
    public int eosId() {
        return 2;
    }

    /** The id of an exact piece, or -1. */
    public int id(byte[] piece) {
        return ids.getOrDefault(key(piece, 0, piece.length), -1);
    }

    @Override
    public int[] encode(String text, boolean addBos) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] tok = new int[bytes.length + 2];
        int n = 0;
        if (addBos) {
            tok[n++] = bosId();
        }
        int first = n;
        if (bytes.length > 0) {
            tok[n++] = ids.getOrDefault(" ", -1);
        }
        for (int i = 0; i < bytes.length; ) {
            int len = utf8Length(bytes, i);
            Integer id = ids.get(key(bytes, i, i + len));
            if (id != null) {
                tok[n++] = id;
            } else {
                for (int j = i; j < i + len; j++) {
                    tok[n++] = (bytes[j] & 0xff) + BYTE_FALLBACK_OFFSET;
                }
            }
            i += len;
        }
        return merge(tok, first, n);
    }

    /** Length of the code point starting at i, as run.c reads it: a lead byte and up to 3 continuation bytes. */
    private static int utf8Length(byte[] b, int i) {
        int len = 1;
        while (i + len < b.length && len < 4 && (b[i + len] & 0xC0) == 0x80) {
            len++;
        }
        return len;
    }

    private record Candidate(float score, int left, int leftVersion, int rightVersion, int merged) {
    }

    private int[] merge(int[] tok, int first, int n) {
        int[] next = new int[n];
        int[] prev = new int[n];
        int[] version = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        // best score first; among equal scores the leftmost pair, as run.c's scan does
        PriorityQueue<Candidate> queue = new PriorityQueue<>((a, b) -> a.score != b.score
                ? Float.compare(b.score, a.score) : Integer.compare(a.left, b.left));
        for (int i = first; i + 1 < n; i++) {
            offer(queue, tok, version, i, i + 1);
        }
        boolean[] dead = new boolean[n];
        while (!queue.isEmpty()) {
            Candidate c = queue.poll();
            int l = c.left;
            int r = next[l];
            if (dead[l] || r < 0 || version[l] != c.leftVersion || version[r] != c.rightVersion) {
                continue;
            }
            tok[l] = c.merged;
            version[l]++;
            dead[r] = true;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            if (prev[l] >= first) {
                offer(queue, tok, version, prev[l], l);
            }
            if (next[l] >= 0) {
                offer(queue, tok, version, l, next[l]);
            }
        }
        int[] out = new int[n];
        System.arraycopy(tok, 0, out, 0, first); // BOS never merges
        int m = first;
        for (int i = first < n ? first : -1; i >= 0; i = next[i]) {
            out[m++] = tok[i];
        }
        return Arrays.copyOf(out, m);
    }

    private void offer(PriorityQueue<Candidate> queue, int[] tok, int[] version, int l, int r) {
        byte[] a = pieces[tok[l]];
        byte[] b = pieces[tok[r]];
        byte[] joined = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, joined, a.length, b.length);
        Integer id = ids.get(key(joined, 0, joined.length));
        if (id != null) {
            queue.add(new Candidate(scores[id], l, version[l], version[r], id));
        }
    }

    @Override
    public byte[] pieceBytes(int prevToken, int token) {
        byte[] p = pieces[token];
        if (prevToken == bosId() && p.length > 0 && p[0] == ' ') {
            return Arrays.copyOfRange(p, 1, p.length);
        }
        // "<0xAB>" byte-fallback pieces stand for the raw byte
        if (p.length == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>') {
            int hi = Character.digit(p[3], 16);
            int lo = Character.digit(p[4], 16);
            if (hi >= 0 && lo >= 0) {
                return new byte[] {(byte) (hi * 16 + lo)};
            }
        }
        return p.clone();
    }
}
