package io.vq4j.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the project's real test data lives: {@code ../shared/data} beside the checkout
 * (surefire passes it as {@code -Dvq.shared.data}). Tests that need it fail loudly when it is
 * missing: the reference checks are part of the suite, not optional extras.
 */
public final class SharedData {
    private SharedData() {
    }

    public static Path root() {
        String prop = System.getProperty("vq.shared.data");
        Path p = prop != null ? Path.of(prop) : Path.of("..", "shared", "data");
        p = p.toAbsolutePath().normalize();
        if (!Files.isDirectory(p.resolve("stories260K"))) {
            throw new IllegalStateException("shared test data not found at " + p
                    + " (expected ../shared/data beside the checkout, or -Dvq.shared.data=...)");
        }
        return p;
    }

    public static Path file(String relative) {
        return root().resolve(relative);
    }

    public static Path stories260K() {
        return file("stories260K/stories260K.bin");
    }

    public static Path tok512() {
        return file("stories260K/tok512.bin");
    }

    public static Path referenceOutputs() {
        return file("stories260K/reference_outputs.json");
    }

    public static Path tinyStoriesVal() {
        return file("tinystories/tinystories_val.txt");
    }
}
