package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The tokenizer.json "decoder", turned into what streaming needs: the bytes of each token on
 * its own, and how many leading spaces to drop from the first token of a text.
 *
 * <p>HF decoders work on the whole token list, but the supported ones act per token except
 * where they follow Fuse (which joins everything): a Strip after Fuse, or Metaspace's
 * first-token rule, touches only the start of the text. ByteFallback's joining of consecutive
 * byte tokens into UTF-8 happens naturally once the bytes are concatenated.
 */
final class HfDecoder {
    /** Per-token bytes. */
    final byte[][] bytes;
    /** Leading spaces removed from the first token after BOS (or at the very start). */
    final int startStrip;

    private HfDecoder(byte[][] bytes, int startStrip) {
        this.bytes = bytes;
        this.startStrip = startStrip;
    }

    static HfDecoder parse(JsonNode n, String[] tokens, Path file) {
        // each stage maps a token held as text (String) or, once decoded, raw bytes (byte[])
        List<UnaryOperator<Object>> stages = new ArrayList<>();
        int[] startStrip = {0};
        boolean[] fused = {false};
        if (!HfJson.isNull(n)) {
            add(n, file, stages, startStrip, fused);
        }
        byte[][] out = new byte[tokens.length][];
        for (int id = 0; id < tokens.length; id++) {
            Object t = tokens[id] == null ? "" : tokens[id];
            for (UnaryOperator<Object> stage : stages) {
                t = stage.apply(t);
            }
            out[id] = t instanceof byte[] b ? b : ((String) t).getBytes(StandardCharsets.UTF_8);
        }
        return new HfDecoder(out, startStrip[0]);
    }

    private static void add(JsonNode n, Path file, List<UnaryOperator<Object>> stages, int[] startStrip, boolean[] fused) {
        String type = HfJson.type(n, file, "decoder");
        switch (type) {
            case "Sequence" -> {
                for (JsonNode child : n.path("decoders")) {
                    add(child, file, stages, startStrip, fused);
                }
            }
            case "Replace" -> {
                Pattern p = HfJson.pattern(n.get("pattern"), file, "Replace decoder");
                String content = Matcher.quoteReplacement(HfJson.text(n, "content", file, "Replace decoder"));
                stages.add(onText(s -> p.matcher(s).replaceAll(content)));
            }
            case "ByteFallback" -> stages.add(t -> {
                if (t instanceof String s) {
                    int b = Llama2cTokenizer.byteToken(s.getBytes(StandardCharsets.UTF_8), 0);
                    return b >= 0 ? new byte[] {(byte) b} : s;
                }
                return t;
            });
            case "ByteLevel" -> stages.add(t -> {
                if (t instanceof String s) {
                    byte[] b = ByteLevel.decode(s);
                    return b != null ? b : s; // tokens outside the table (added tokens) stay as text
                }
                return t;
            });
            case "Fuse" -> fused[0] = true;
            case "Strip" -> {
                String content = HfJson.text(n, "content", file, "Strip decoder");
                int start = HfJson.integer(n, "start", 0);
                int stop = HfJson.integer(n, "stop", 0);
                if (!content.equals(" ")) {
                    throw HfJson.unsupported(file, "Strip decoder of \"" + content + "\" (only spaces)");
                }
                if (fused[0]) {
                    if (stop > 0) {
                        throw HfJson.unsupported(file, "Strip decoder with stop > 0 after Fuse (cannot stream)");
                    }
                    startStrip[0] += start;
                } else {
                    stages.add(onText(s -> stripSpaces(s, start, stop)));
                }
            }
            case "Metaspace" -> {
                String replacement = HfJson.text(n, "replacement", file, "Metaspace decoder");
                stages.add(onText(s -> s.replace(replacement, " ")));
                if (!HfPreTokenizer.prependScheme(n, file).equals("never")) {
                    startStrip[0] += 1;
                }
            }
            default -> throw HfJson.unsupported(file, "decoder type " + type);
        }
    }

    private static UnaryOperator<Object> onText(UnaryOperator<String> f) {
        return t -> t instanceof String s ? f.apply(s) : t;
    }

    private static String stripSpaces(String s, int start, int stop) {
        int from = 0;
        while (from < start && from < s.length() && s.charAt(from) == ' ') {
            from++;
        }
        int to = s.length();
        while (s.length() - to < stop && to > from && s.charAt(to - 1) == ' ') {
            to--;
        }
        return s.substring(from, to);
    }
}
