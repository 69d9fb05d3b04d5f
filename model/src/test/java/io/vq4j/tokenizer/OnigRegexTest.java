package io.vq4j.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OnigRegexTest {
    private static boolean finds(String re, String text) {
        return OnigRegex.compile(re).matcher(text).find();
    }

    @Test
    void rewritesOnigurumaOnlySyntaxIntoJavaEquivalents() {
        assertEquals("\\P{L}+", OnigRegex.translate("\\p{^L}+"));
        assertEquals("[\\P{N}x]", OnigRegex.translate("[\\p{^N}x]"));
        assertEquals("a{0,3}", OnigRegex.translate("a{,3}"));
        assertEquals("a\\{b", OnigRegex.translate("a{b"));
        assertEquals("\\p{N}{1,3}", OnigRegex.translate("\\p{N}{1,3}"));
        assertEquals("[0-9a-fA-F]+", OnigRegex.translate("\\h+"));
        assertEquals("[\\p{Alpha}_]", OnigRegex.translate("[[:alpha:]_]"));
        assertEquals("\\x0B", OnigRegex.translate("\\v"));
        assertEquals("\\x{1F600}", OnigRegex.translate("\\x{1F600}"));
    }

    @Test
    void classesAreUnicodeAwareAsInOniguruma() {
        assertTrue(finds("^\\s+$", "\u3000\u00A0\u2028"));
        assertTrue(finds("^\\d$", "٣")); // Arabic-Indic three
        assertTrue(finds("^\\w+$", "naïve"));
        assertTrue(finds("^(?i:'s)$", "'S"));
        assertTrue(finds("^\\p{L}+$", "𝒜β")); // a supplementary letter counts as one
    }

    @Test
    void anchorsAreLineAnchorsAndDotStopsOnlyAtNewline() {
        assertTrue(finds("^b", "a\nb"));
        assertTrue(finds("a$", "a\nb"));
        assertTrue(finds("^.$", "\r"));
        assertFalse(finds("^.$", "\n"));
    }

    @Test
    void possessiveAtomicAndLookaheadPartsCompileUnchanged() {
        Pattern p = OnigRegex.compile("\\s++(?!\\S)|(?>ab|a)c|x*+");
        assertTrue(p.matcher("  ").find());
        assertTrue(OnigRegex.compile("^(?>ab|a)c$").matcher("abc").find());
        assertFalse(OnigRegex.compile("^(?>a|ab)c$").matcher("abc").find()); // atomic: no retry with "ab"
    }

    @Test
    void constructsWithoutJavaFormAreRejectedByName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> OnigRegex.compile("a\\Kb")).getMessage().contains("\\K"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> OnigRegex.compile("(?~ab)")).getMessage().contains("absent"));
        assertThrows(IllegalArgumentException.class, () -> OnigRegex.compile("(unclosed"));
    }
}
