package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import io.vq4j.core.InputException;

import java.nio.file.Path;
import java.util.regex.Pattern;

/** Field access on a tokenizer.json tree, with errors that name the file and the feature. */
final class HfJson {
    private HfJson() {
    }

    static boolean isNull(JsonNode n) {
        return n == null || n.isNull() || n.isMissingNode();
    }

    static String type(JsonNode n, Path file, String where) {
        JsonNode t = n.get("type");
        if (t == null || !t.isTextual()) {
            throw InputException.at(file, where + " has no \"type\"");
        }
        return t.asText();
    }

    static String text(JsonNode n, String field, Path file, String where) {
        JsonNode v = n.get(field);
        if (v == null || !v.isTextual()) {
            throw InputException.at(file, where + " needs a string \"" + field + "\"");
        }
        return v.asText();
    }

    static boolean bool(JsonNode n, String field, boolean fallback) {
        JsonNode v = n.get(field);
        return isNull(v) ? fallback : v.asBoolean();
    }

    static int integer(JsonNode n, String field, int fallback) {
        JsonNode v = n.get(field);
        return isNull(v) ? fallback : v.asInt();
    }

    static InputException unsupported(Path file, String what) {
        return InputException.at(file, "unsupported tokenizer feature: " + what);
    }

    /** A {"String": literal} or {"Regex": oniguruma} pattern as a Java pattern. */
    static Pattern pattern(JsonNode n, Path file, String where) {
        if (n != null && n.has("String")) {
            return Pattern.compile(Pattern.quote(n.get("String").asText()));
        }
        if (n != null && n.has("Regex")) {
            try {
                return OnigRegex.compile(n.get("Regex").asText());
            } catch (IllegalArgumentException e) {
                throw InputException.at(file, where + ": " + e.getMessage());
            }
        }
        throw InputException.at(file, where + " needs a pattern {\"String\": …} or {\"Regex\": …}");
    }
}
