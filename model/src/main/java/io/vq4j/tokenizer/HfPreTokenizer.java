package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The tokenizer.json "pre_tokenizer": cuts a normalized segment into the words that BPE
 * encodes one by one. Supported: Split, ByteLevel, Metaspace, Digits and Sequences of them.
 */
final class HfPreTokenizer {
    /** GPT-2's split pattern, which ByteLevel applies when use_regex is true. */
    static final String GPT2_PATTERN =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /** A word; {@code atStart} when it begins at offset 0 of the input (Metaspace "first"). */
    record Piece(String text, boolean atStart) {
    }

    private interface Step {
        void split(Piece piece, List<Piece> out);
    }

    enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    private final List<Step> steps;

    private HfPreTokenizer(List<Step> steps) {
        this.steps = steps;
    }

    List<Piece> apply(Piece input) {
        List<Piece> pieces = List.of(input);
        for (Step step : steps) {
            List<Piece> next = new ArrayList<>(pieces.size() * 2);
            for (Piece p : pieces) {
                step.split(p, next);
            }
            pieces = next;
        }
        return pieces;
    }

    static HfPreTokenizer parse(JsonNode n, Path file) {
        List<Step> steps = new ArrayList<>();
        if (!HfJson.isNull(n)) {
            add(n, file, steps);
        }
        return new HfPreTokenizer(steps);
    }

    private static void add(JsonNode n, Path file, List<Step> steps) {
        String type = HfJson.type(n, file, "pre_tokenizer");
        switch (type) {
            case "Sequence" -> {
                for (JsonNode child : n.path("pretokenizers")) {
                    add(child, file, steps);
                }
            }
            case "Split" -> {
                Pattern p = HfJson.pattern(n.get("pattern"), file, "Split pre_tokenizer");
                Behavior b = behavior(HfJson.text(n, "behavior", file, "Split pre_tokenizer"), file);
                boolean invert = HfJson.bool(n, "invert", false);
                steps.add((piece, out) -> split(piece, p, b, invert, out));
            }
            case "Digits" -> {
                Pattern p = Pattern.compile(HfJson.bool(n, "individual_digits", false) ? "\\p{N}" : "\\p{N}+");
                steps.add((piece, out) -> split(piece, p, Behavior.ISOLATED, false, out));
            }
            case "ByteLevel" -> {
                boolean prefixSpace = HfJson.bool(n, "add_prefix_space", true);
                Pattern gpt2 = HfJson.bool(n, "use_regex", true) ? OnigRegex.compile(GPT2_PATTERN) : null;
                steps.add((piece, out) -> {
                    String t = piece.text();
                    if (prefixSpace && !t.startsWith(" ")) {
                        t = t.isEmpty() ? t : " " + t;
                    }
                    List<Piece> words = new ArrayList<>();
                    if (gpt2 != null) {
                        split(new Piece(t, piece.atStart()), gpt2, Behavior.ISOLATED, false, words);
                    } else if (!t.isEmpty()) {
                        words.add(new Piece(t, piece.atStart()));
                    }
                    for (Piece w : words) {
                        out.add(new Piece(ByteLevel.encode(w.text()), w.atStart()));
                    }
                });
            }
            case "Metaspace" -> steps.add(metaspace(n, file));
            default -> throw HfJson.unsupported(file, "pre_tokenizer type " + type);
        }
    }

    private static Step metaspace(JsonNode n, Path file) {
        String replacement = HfJson.text(n, "replacement", file, "Metaspace pre_tokenizer");
        String scheme = prependScheme(n, file);
        boolean split = HfJson.bool(n, "split", true);
        Pattern sep = Pattern.compile(Pattern.quote(replacement));
        return (piece, out) -> {
            String t = piece.text().replace(" ", replacement);
            boolean prepend = switch (scheme) {
                case "always" -> true;
                case "first" -> piece.atStart();
                default -> false;
            };
            // HF's prepend is a no-op on empty text and skips text that already starts with it.
            if (prepend && !t.isEmpty() && !t.startsWith(replacement)) {
                t = replacement + t;
            }
            Piece p = new Piece(t, piece.atStart());
            if (split) {
                split(p, sep, Behavior.MERGED_WITH_NEXT, false, out);
            } else if (!t.isEmpty()) {
                out.add(p);
            }
        };
    }

    /** "prepend_scheme", or the older "add_prefix_space" flag (true meant always). */
    static String prependScheme(JsonNode n, Path file) {
        if (n.has("prepend_scheme")) {
            String s = n.get("prepend_scheme").asText();
            if (!s.equals("always") && !s.equals("first") && !s.equals("never")) {
                throw HfJson.unsupported(file, "Metaspace prepend_scheme " + s);
            }
            return s;
        }
        return HfJson.bool(n, "add_prefix_space", true) ? "always" : "never";
    }

    private static Behavior behavior(String name, Path file) {
        return switch (name) {
            case "Removed" -> Behavior.REMOVED;
            case "Isolated" -> Behavior.ISOLATED;
            case "MergedWithPrevious" -> Behavior.MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> Behavior.MERGED_WITH_NEXT;
            case "Contiguous" -> Behavior.CONTIGUOUS;
            default -> throw HfJson.unsupported(file, "Split behavior " + name);
        };
    }

    /** Cuts a piece at the pattern's matches as HF's SplitDelimiterBehavior does; empty words are dropped. */
    static void split(Piece piece, Pattern pattern, Behavior behavior, boolean invert, List<Piece> out) {
        String t = piece.text();
        List<int[]> spans = new ArrayList<>(); // {start, end, isMatch}
        Matcher m = pattern.matcher(t);
        int prev = 0;
        while (m.find()) {
            if (m.end() == m.start()) {
                continue;
            }
            if (m.start() > prev) {
                spans.add(new int[] {prev, m.start(), invert ? 1 : 0});
            }
            spans.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
            prev = m.end();
        }
        if (prev < t.length()) {
            spans.add(new int[] {prev, t.length(), invert ? 1 : 0});
        }
        List<int[]> words = new ArrayList<>(); // {start, end}
        switch (behavior) {
            case REMOVED -> spans.stream().filter(x -> x[2] == 0).forEach(x -> words.add(new int[] {x[0], x[1]}));
            case ISOLATED -> spans.forEach(x -> words.add(new int[] {x[0], x[1]}));
            case MERGED_WITH_PREVIOUS, CONTIGUOUS -> {
                boolean previousMatch = false;
                for (int[] x : spans) {
                    boolean match = x[2] == 1;
                    // a delimiter joins the word before it (unless that one is a delimiter too);
                    // Contiguous joins runs of delimiters instead
                    boolean join = behavior == Behavior.CONTIGUOUS ? match && previousMatch : match && !previousMatch;
                    if (join && !words.isEmpty()) {
                        words.getLast()[1] = x[1];
                    } else {
                        words.add(new int[] {x[0], x[1]});
                    }
                    previousMatch = match;
                }
            }
            case MERGED_WITH_NEXT -> {
                // HF folds from the right: a delimiter joins the word after it unless that is a delimiter
                boolean nextMatch = false;
                for (int i = spans.size() - 1; i >= 0; i--) {
                    int[] x = spans.get(i);
                    boolean match = x[2] == 1;
                    if (match && !nextMatch && !words.isEmpty()) {
                        words.getLast()[0] = x[0];
                    } else {
                        words.add(new int[] {x[0], x[1]});
                    }
                    nextMatch = match;
                }
                Collections.reverse(words);
            }
        }
        for (int[] w : words) {
            out.add(new Piece(t.substring(w[0], w[1]), piece.atStart() && w[0] == 0));
        }
    }
}
