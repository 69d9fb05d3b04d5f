package io.vq4j.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The tokenizer.json "added_tokens" (special and user tokens): found literally in the text,
 * leftmost then longest, and never split or merged. lstrip/rstrip absorb the whitespace beside
 * a match; single_word tokens match only between non-word characters.
 */
final class AddedTokens {
    record Token(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip, boolean normalized) {
    }

    /** A stretch of text: either plain text (id -1) or one added token. */
    record Segment(String text, int start, int id) {
        boolean isToken() {
            return id >= 0;
        }
    }

    private final Map<Character, List<Token>> byFirstChar = new HashMap<>();

    AddedTokens(List<Token> tokens) {
        for (Token t : tokens) {
            if (!t.content().isEmpty()) {
                byFirstChar.computeIfAbsent(t.content().charAt(0), k -> new ArrayList<>()).add(t);
            }
        }
        byFirstChar.values().forEach(l -> l.sort(Comparator.comparingInt((Token t) -> t.content().length()).reversed()));
    }

    boolean isEmpty() {
        return byFirstChar.isEmpty();
    }

    List<Segment> split(String text) {
        List<Segment> out = new ArrayList<>();
        if (byFirstChar.isEmpty()) {
            out.add(new Segment(text, 0, -1));
            return out;
        }
        int plainStart = 0;
        int i = 0;
        while (i < text.length()) {
            Token hit = match(text, i);
            if (hit == null) {
                i++;
                continue;
            }
            int start = i;
            int end = i + hit.content().length();
            if (hit.lstrip()) {
                while (start > plainStart && Character.isWhitespace(text.charAt(start - 1))) {
                    start--;
                }
            }
            if (hit.rstrip()) {
                while (end < text.length() && Character.isWhitespace(text.charAt(end))) {
                    end++;
                }
            }
            if (start > plainStart) {
                out.add(new Segment(text.substring(plainStart, start), plainStart, -1));
            }
            out.add(new Segment(text.substring(start, end), start, hit.id()));
            plainStart = end;
            i = end;
        }
        if (plainStart < text.length()) {
            out.add(new Segment(text.substring(plainStart), plainStart, -1));
        }
        return out;
    }

    private Token match(String text, int i) {
        List<Token> candidates = byFirstChar.get(text.charAt(i));
        if (candidates == null) {
            return null;
        }
        for (Token t : candidates) {
            if (text.startsWith(t.content(), i) && (!t.singleWord() || isWordBoundary(text, i, i + t.content().length()))) {
                return t;
            }
        }
        return null;
    }

    private static boolean isWordBoundary(String text, int start, int end) {
        return (start == 0 || !isWordChar(text.codePointBefore(start)))
                && (end == text.length() || !isWordChar(text.codePointAt(end)));
    }

    private static boolean isWordChar(int cp) {
        return Character.isLetterOrDigit(cp) || cp == '_';
    }
}
