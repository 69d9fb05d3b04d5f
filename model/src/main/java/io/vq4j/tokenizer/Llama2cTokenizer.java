package io.vq4j.tokenizer;

import io.vq4j.core.InputException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The llama2.c {@code tokenizer.bin} vocabulary (int32 max_token_length, then per token
 * float32 score, int32 length, bytes; little-endian) with run.c's encode and decode.
 *
 * <p>Encoding gives run.c's ids: optional BOS, a dummy-prefix space for non-empty text, one
 * symbol per UTF-8 character (byte fallback id = byte + 3 when the character is not a piece),
 * then merging of the adjacent pair whose concatenation is the best-scoring piece, leftmost on
 * ties. The merge is done by {@link PairMerger} on a table of every (left, right) split of every
 * piece, which is the same set of candidates run.c finds by concatenating and looking up.
 * Deliberate differences: a NUL character is encoded (run.c stops at it, C strings), and the
 * dummy prefix falls back to the space byte when the vocabulary has no " " piece (run.c would
 * push id -1).
 */
public final class Llama2cTokenizer implements Tokenizer {
    static final int BOS = 1;
    static final int EOS = 2;
    static final int BYTE_OFFSET = 3;
    /** run.c starts its best score at -1e10 with a strict {@code >}: worse pieces never merge. */
    private static final float NO_MERGE_SCORE = -1e10f;

    private final Path source;
    private final int maxTokenLength;
    private final byte[][] pieces;
    private final float[] scores;
    /** Piece bytes as ISO-8859-1 strings (one char per byte), so byte strings can key a map. */
    private final Map<String, Integer> ids;
    private final PairTable rules;
    private final List<Merge> merges;

    /** One way to build piece {@code merged} from two pieces, as run.c would find it. */
    record Merge(int left, int right, int merged) {
    }

    private Llama2cTokenizer(Path source, int maxTokenLength, byte[][] pieces, float[] scores) {
        this.source = source;
        this.maxTokenLength = maxTokenLength;
        this.pieces = pieces;
        this.scores = scores;
        this.ids = new HashMap<>(pieces.length * 2);
        for (int i = 0; i < pieces.length; i++) {
            // run.c binary-searches a sorted copy, so a duplicate piece resolves to either id;
            // keeping the first is as good as any and deterministic.
            ids.putIfAbsent(key(pieces[i]), i);
        }
        this.merges = findMerges();
        int[] rank = denseScoreRanks();
        this.rules = new PairTable(merges.size());
        for (Merge m : merges) {
            rules.put(m.left(), m.right(), rank[m.merged()], m.merged());
        }
    }

    /** Reads every entry of a llama2.c tokenizer file, up to its end. */
    public static Llama2cTokenizer read(Path file) {
        byte[] data;
        try {
            data = Files.readAllBytes(file);
        } catch (IOException e) {
            throw InputException.at(file, "cannot read tokenizer: " + e.getMessage());
        }
        ByteBuffer buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        if (buf.remaining() < 4) {
            throw InputException.at(file, "truncated llama2.c tokenizer: no max_token_length header");
        }
        int maxLen = buf.getInt();
        if (maxLen <= 0 || maxLen > 1 << 16) {
            throw InputException.at(file, "not a llama2.c tokenizer: max_token_length " + maxLen);
        }
        List<byte[]> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (buf.hasRemaining()) {
            int i = pieces.size();
            if (buf.remaining() < 8) {
                throw InputException.at(file, "truncated llama2.c tokenizer: token " + i + " header cut at byte " + buf.position());
            }
            float score = buf.getFloat();
            int len = buf.getInt();
            if (len < 0 || len > maxLen) {
                throw InputException.at(file, "not a llama2.c tokenizer: token " + i + " has length " + len
                        + " outside 0.." + maxLen + " (max_token_length)");
            }
            if (buf.remaining() < len) {
                throw InputException.at(file, "truncated llama2.c tokenizer: token " + i + " needs " + len
                        + " bytes, " + buf.remaining() + " left");
            }
            byte[] piece = new byte[len];
            buf.get(piece);
            pieces.add(piece);
            scores.add(score);
        }
        if (pieces.size() < BYTE_OFFSET + 256) {
            throw InputException.at(file, "llama2.c tokenizer has " + pieces.size()
                    + " tokens; at least 259 (<unk>, BOS, EOS, 256 byte tokens) are needed");
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        return new Llama2cTokenizer(file, maxLen, pieces.toArray(byte[][]::new), s);
    }

    /**
     * A vocabulary given piece by piece (as a GGUF file holds it): the same rules as a
     * tokenizer.bin with these pieces and scores, BOS 1, EOS 2 and byte tokens at 3..258.
     */
    public static Llama2cTokenizer of(Path source, byte[][] pieces, float[] scores) {
        if (pieces.length != scores.length || pieces.length < BYTE_OFFSET + 256) {
            throw new IllegalArgumentException(pieces.length + " pieces, " + scores.length + " scores");
        }
        int maxLen = 1;
        for (byte[] p : pieces) {
            maxLen = Math.max(maxLen, p.length);
        }
        return new Llama2cTokenizer(source, maxLen, pieces.clone(), scores.clone());
    }

    public Path source() {
        return source;
    }

    public int maxTokenLength() {
        return maxTokenLength;
    }

    /** The raw bytes of piece {@code id}, as stored in the file. */
    public byte[] piece(int id) {
        return pieces[checkId(id)].clone();
    }

    public float score(int id) {
        return scores[checkId(id)];
    }

    @Override
    public int vocabSize() {
        return pieces.length;
    }

    @Override
    public int bosId() {
        return BOS;
    }

    @Override
    public int eosId() {
        return EOS;
    }

    @Override
    public int[] encode(String text, boolean addBos) {
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        int[] symbols = new int[utf8.length + 2];
        int n = 0;
        if (addBos) {
            symbols[n++] = BOS;
        }
        if (utf8.length > 0) {
            n = appendPiece(new byte[] {' '}, 0, 1, symbols, n);
        }
        int start = 0;
        for (int i = 0; i < utf8.length; i++) {
            // run.c: a character is a lead byte plus continuation bytes (0b10xxxxxx), at most 4
            if ((utf8[i] & 0xC0) != 0x80) {
                start = i;
            }
            boolean nextIsContinuation = i + 1 < utf8.length && (utf8[i + 1] & 0xC0) == 0x80;
            if (nextIsContinuation && i - start + 1 < 4) {
                continue;
            }
            n = appendPiece(utf8, start, i - start + 1, symbols, n);
            start = i + 1;
        }
        return PairMerger.merge(Arrays.copyOf(symbols, n), rules);
    }

    /** Appends the piece for bytes[off, off+len) or, when none, one byte-fallback id per byte. */
    private int appendPiece(byte[] bytes, int off, int len, int[] out, int n) {
        Integer id = ids.get(new String(bytes, off, len, StandardCharsets.ISO_8859_1));
        if (id != null) {
            out[n++] = id;
        } else {
            for (int k = 0; k < len; k++) {
                out[n++] = (bytes[off + k] & 0xFF) + BYTE_OFFSET;
            }
        }
        return n;
    }

    @Override
    public byte[] pieceBytes(int prevToken, int token) {
        byte[] p = pieces[checkId(token)];
        int from = prevToken == BOS && p.length > 0 && p[0] == ' ' ? 1 : 0;
        int b = byteToken(p, from);
        if (b >= 0) {
            return new byte[] {(byte) b};
        }
        return Arrays.copyOfRange(p, from, p.length);
    }

    /** The byte of a {@code <0xXX>} piece (from offset {@code from}), else -1. */
    static int byteToken(byte[] p, int from) {
        if (p.length - from != 6 || p[from] != '<' || p[from + 1] != '0' || p[from + 2] != 'x' || p[from + 5] != '>') {
            return -1;
        }
        int hi = Character.digit(p[from + 3], 16);
        int lo = Character.digit(p[from + 4], 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    /** Every way run.c could build a piece from two adjacent pieces, in vocabulary order. */
    List<Merge> merges() {
        return merges;
    }

    private List<Merge> findMerges() {
        List<Merge> out = new ArrayList<>();
        for (int t = 0; t < pieces.length; t++) {
            float s = scores[t];
            if (!(s > NO_MERGE_SCORE)) {
                continue;
            }
            String whole = key(pieces[t]);
            if (ids.get(whole) != t) {
                continue; // a duplicate piece: run.c's lookup finds the other id
            }
            for (int cut = 1; cut < whole.length(); cut++) {
                Integer left = ids.get(whole.substring(0, cut));
                Integer right = ids.get(whole.substring(cut));
                if (left != null && right != null) {
                    out.add(new Merge(left, right, t));
                }
            }
        }
        return List.copyOf(out);
    }

    /** Rank 0 for the highest score; equal scores (-0.0 == 0.0, as in C) share a rank. */
    private int[] denseScoreRanks() {
        float[] distinct = new float[scores.length];
        for (int i = 0; i < scores.length; i++) {
            distinct[i] = scores[i] + 0.0f; // turns -0.0 into 0.0
        }
        Arrays.sort(distinct);
        int m = 0;
        for (int i = 0; i < distinct.length; i++) {
            if (m == 0 || distinct[i] != distinct[m - 1]) {
                distinct[m++] = distinct[i];
            }
        }
        int[] rank = new int[scores.length];
        for (int i = 0; i < scores.length; i++) {
            float s = scores[i] + 0.0f;
            rank[i] = s > NO_MERGE_SCORE ? m - 1 - Arrays.binarySearch(distinct, 0, m, s) : Integer.MAX_VALUE;
        }
        return rank;
    }

    private static String key(byte[] piece) {
        return new String(piece, StandardCharsets.ISO_8859_1);
    }

    private int checkId(int id) {
        if (id < 0 || id >= pieces.length) {
            throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + pieces.length);
        }
        return id;
    }
}
