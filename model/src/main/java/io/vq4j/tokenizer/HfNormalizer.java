package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The tokenizer.json "normalizer": a string rewrite applied to each text segment before splitting. */
final class HfNormalizer {
    private HfNormalizer() {
    }

    static UnaryOperator<String> parse(JsonNode n, Path file) {
        if (HfJson.isNull(n)) {
            return UnaryOperator.identity();
        }
        String type = HfJson.type(n, file, "normalizer");
        return switch (type) {
            case "Sequence" -> {
                List<UnaryOperator<String>> steps = new ArrayList<>();
                for (JsonNode child : n.path("normalizers")) {
                    steps.add(parse(child, file));
                }
                yield s -> {
                    for (UnaryOperator<String> step : steps) {
                        s = step.apply(s);
                    }
                    return s;
                };
            }
            case "Prepend" -> {
                String prefix = HfJson.text(n, "prepend", file, "Prepend normalizer");
                // HF prepends only to non-empty text: an empty segment stays empty.
                yield s -> s.isEmpty() ? s : prefix + s;
            }
            case "Replace" -> {
                Pattern p = HfJson.pattern(n.get("pattern"), file, "Replace normalizer");
                String content = HfJson.text(n, "content", file, "Replace normalizer");
                String quoted = Matcher.quoteReplacement(content);
                yield s -> p.matcher(s).replaceAll(quoted);
            }
            case "NFC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFC);
            case "NFD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFD);
            case "NFKC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
            case "NFKD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
            case "Lowercase" -> s -> s.toLowerCase(Locale.ROOT);
            case "Strip" -> {
                boolean left = HfJson.bool(n, "strip_left", true);
                boolean right = HfJson.bool(n, "strip_right", true);
                yield s -> left && right ? s.strip() : left ? s.stripLeading() : right ? s.stripTrailing() : s;
            }
            default -> throw HfJson.unsupported(file, "normalizer type " + type);
        };
    }
}
