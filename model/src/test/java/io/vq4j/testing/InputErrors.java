package io.vq4j.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import java.nio.file.Path;
import org.junit.jupiter.api.function.Executable;

/** The shape every user-input error must have: one line, "{file}: {problem}". */
public final class InputErrors {
    private InputErrors() {
    }

    /** Runs {@code action}, expecting an InputException that starts with {@code file} and mentions {@code problem}. */
    public static InputException fails(Path file, String problem, Executable action) {
        InputException e = assertThrows(InputException.class, action);
        String m = e.getMessage();
        assertTrue(m.startsWith(file + ": "), "starts with the file: " + m);
        assertTrue(m.contains(problem), "says '" + problem + "': " + m);
        assertEquals(1, m.lines().count(), "one line: " + m);
        return e;
    }
}
