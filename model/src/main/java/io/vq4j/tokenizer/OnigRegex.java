package io.vq4j.tokenizer;

import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Compiles a regular expression written for Oniguruma (what Hugging Face tokenizers use for
 * Split pre-tokenizers and Replace patterns) with java.util.regex.
 *
 * <p>Most syntax means the same in both. The differences handled here: Oniguruma's \s, \d, \w,
 * \b and (?i) are Unicode-aware (Java's are ASCII unless UNICODE_CHARACTER_CLASS); ^ and $ are
 * line anchors and . excludes only \n (MULTILINE + UNIX_LINES); \h is a hex digit (Java: a
 * horizontal space); \v is only VT (Java: any vertical space); \p{^X} is Java's \P{X};
 * POSIX brackets [:alpha:] become \p{Alpha}; {,n} means {0,n}; a { that opens no interval is
 * a literal. \K, subexpression calls (\g) and absent operators (?~ have no Java form and
 * are rejected.
 */
final class OnigRegex {
    static final int FLAGS = Pattern.UNICODE_CHARACTER_CLASS | Pattern.MULTILINE | Pattern.UNIX_LINES;

    private static final Map<String, String> POSIX = Map.ofEntries(
            Map.entry("alpha", "\\p{Alpha}"), Map.entry("digit", "\\p{Digit}"), Map.entry("alnum", "\\p{Alnum}"),
            Map.entry("upper", "\\p{Upper}"), Map.entry("lower", "\\p{Lower}"), Map.entry("space", "\\s"),
            Map.entry("punct", "\\p{Punct}"), Map.entry("xdigit", "0-9a-fA-F"), Map.entry("word", "\\w"),
            Map.entry("blank", "\\p{Blank}"), Map.entry("cntrl", "\\p{Cntrl}"), Map.entry("graph", "\\p{Graph}"),
            Map.entry("print", "\\p{Print}"));

    private OnigRegex() {
    }

    /** @throws IllegalArgumentException naming the construct that cannot be translated */
    static Pattern compile(String onig) {
        String java = translate(onig);
        try {
            return Pattern.compile(java, FLAGS);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("regex " + onig + " does not compile: " + e.getDescription());
        }
    }

    static String translate(String re) {
        StringBuilder out = new StringBuilder(re.length() + 16);
        int classDepth = 0;
        int i = 0;
        while (i < re.length()) {
            char c = re.charAt(i);
            if (c == '\\' && i + 1 < re.length()) {
                i = escape(re, i, classDepth > 0, out);
                continue;
            }
            if (c == '[') {
                if (classDepth > 0 && re.startsWith("[:", i)) {
                    int end = re.indexOf(":]", i + 2);
                    if (end > 0) {
                        String name = re.substring(i + 2, end);
                        boolean negated = name.startsWith("^");
                        String cls = POSIX.get(negated ? name.substring(1) : name);
                        if (cls == null) {
                            throw new IllegalArgumentException("regex " + re + ": unknown POSIX bracket [:" + name + ":]");
                        }
                        out.append(negated ? "[^" + cls + "]" : cls);
                        i = end + 2;
                        continue;
                    }
                }
                classDepth++;
                out.append(c);
                if (i + 1 < re.length() && re.charAt(i + 1) == '^') {
                    out.append('^');
                    i++;
                }
                i++;
                continue;
            }
            if (c == ']' && classDepth > 0) {
                classDepth--;
            } else if (c == '{' && classDepth == 0) {
                i = interval(re, i, out);
                continue;
            } else if (c == '(' && re.startsWith("(?~", i)) {
                throw new IllegalArgumentException("regex " + re + ": the absent operator (?~...) has no Java form");
            }
            out.append(c);
            i++;
        }
        return out.toString();
    }

    /** Copies or rewrites the escape at re[i] (a backslash); returns the index after it. */
    private static int escape(String re, int i, boolean inClass, StringBuilder out) {
        char e = re.charAt(i + 1);
        switch (e) {
            case 'h' -> out.append(inClass ? "0-9a-fA-F" : "[0-9a-fA-F]");
            case 'H' -> {
                if (inClass) {
                    throw new IllegalArgumentException("regex " + re + ": \\H inside a character class");
                }
                out.append("[^0-9a-fA-F]");
            }
            case 'v' -> out.append("\\x0B");
            case 'K' -> throw new IllegalArgumentException("regex " + re + ": \\K has no Java form");
            case 'g' -> throw new IllegalArgumentException("regex " + re + ": subexpression calls (\\g) have no Java form");
            case 'p', 'P' -> {
                boolean negated = i + 3 < re.length() && re.charAt(i + 2) == '{' && re.charAt(i + 3) == '^';
                char name = negated ? (e == 'p' ? 'P' : 'p') : e;
                return copyBraces(re, negated ? i + 4 : i + 2, out.append('\\').append(name), negated);
            }
            case 'x' -> {
                return copyBraces(re, i + 2, out.append("\\x"), false);
            }
            default -> out.append('\\').append(e);
        }
        return i + 2;
    }

    /** Copies a {...} argument of an escape (\p{L}, \x{1F600}) verbatim; returns the index after it. */
    private static int copyBraces(String re, int i, StringBuilder out, boolean braceAlreadyOpen) {
        if (!braceAlreadyOpen && (i >= re.length() || re.charAt(i) != '{')) {
            return i;
        }
        int close = re.indexOf('}', i);
        if (close < 0) {
            throw new IllegalArgumentException("regex " + re + ": unclosed { after an escape");
        }
        if (braceAlreadyOpen) {
            out.append('{');
        }
        out.append(re, i, close + 1);
        return close + 1;
    }

    /** re[i] is '{': an interval quantifier is copied ({,n} as {0,n}); anything else is a literal brace. */
    private static int interval(String re, int i, StringBuilder out) {
        int j = i + 1;
        int lowStart = j;
        while (j < re.length() && Character.isDigit(re.charAt(j))) {
            j++;
        }
        boolean hasLow = j > lowStart;
        boolean comma = j < re.length() && re.charAt(j) == ',';
        if (comma) {
            j++;
            while (j < re.length() && Character.isDigit(re.charAt(j))) {
                j++;
            }
        }
        boolean hasHigh = comma && Character.isDigit(re.charAt(j - 1));
        if (j < re.length() && re.charAt(j) == '}' && (hasLow || hasHigh)) {
            String body = re.substring(i + 1, j);
            out.append('{').append(hasLow ? body : "0" + body).append('}');
            return j + 1;
        }
        out.append("\\{");
        return i + 1;
    }
}
