package io.vq4j.model.minilm;

import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The real all-MiniLM-L6-v2, read from the langchain4j jar on the test classpath (found through
 * its model class's code source, so nothing is copied or downloaded), loaded once per test JVM,
 * and the WikiText-2 test sentences the reference tests embed.
 */
final class MiniLmFixture {
    private static MiniLm model;

    private MiniLmFixture() {
    }

    static Path jar() {
        try {
            Path p = Path.of(AllMiniLmL6V2EmbeddingModel.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (!Files.isRegularFile(p)) {
                throw new IllegalStateException("the langchain4j all-minilm-l6-v2 classes are not in a jar: " + p);
            }
            return p;
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static synchronized MiniLm model() {
        if (model == null) {
            model = MiniLm.load(jar());
        }
        return model;
    }

    /** The first {@code n} sentences of at least 6 words from WikiText-2 test's paragraphs (headings skipped). */
    static List<String> sentences(int n) {
        List<String> out = new ArrayList<>();
        for (String line : paragraphs()) {
            for (String s : line.split(" \\. ")) {
                if (out.size() < n && s.split(" ").length >= 6) {
                    out.add(s.endsWith(".") ? s : s + " .");
                }
            }
        }
        return out;
    }

    /** WikiText-2 test's paragraphs, one per line, stripped. */
    static List<String> paragraphs() {
        try {
            return Files.readAllLines(SharedData.file("wikitext-2/test.txt")).stream().map(String::strip)
                    .filter(s -> !s.isEmpty() && !s.startsWith("=")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
