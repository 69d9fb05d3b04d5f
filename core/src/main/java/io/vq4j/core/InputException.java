package io.vq4j.core;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.util.Locale;

/**
 * A problem with what the user gave us (a file, an option, a text), as opposed to a bug.
 * The message is one line that names the input and what is wrong with it; the CLI prints
 * it on stderr and exits with code 2, without a stack trace.
 */
public final class InputException extends RuntimeException {
    public InputException(String message) {
        super(message, null, false, false);
    }

    public InputException(String message, Throwable cause) {
        super(message, cause, false, false);
    }

    /**
     * An I/O failure of the environment (a full disk, a target that cannot be created, a file
     * that vanished) as one line naming the file and the reason, e.g. "/out/x: No space left on
     * device" or "/a/file/sub: not a directory". These are not bugs: the CLI reports them like
     * bad input.
     */
    public static InputException io(IOException e) {
        if (e instanceof FileSystemException f && f.getFile() != null) {
            String reason = f.getReason() != null ? f.getReason() : e.getClass().getSimpleName().replace("Exception", "")
                    .replaceAll("([a-z])([A-Z])", "$1 $2").toLowerCase(Locale.ROOT);
            return new InputException(f.getFile() + (f.getOtherFile() != null ? " -> " + f.getOtherFile() : "")
                    + ": " + reason, e);
        }
        return new InputException("I/O error: " + e.getMessage(), e);
    }

    /**
     * Every control character of {@code s} (C0, DEL and C1: line breaks, ESC, NUL, ...) written as a
     * visible escape, so a name read from a file can neither break the one-line message nor
     * reach the terminal as a control sequence.
     */
    public static String printable(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean control = c < 0x20 || c >= 0x7f && c <= 0x9f;
            if (control && b == null) {
                b = new StringBuilder(s.length() + 8).append(s, 0, i);
            }
            if (b != null) {
                if (!control) {
                    b.append(c);
                } else if (c == '\n') {
                    b.append("\\n");
                } else if (c == '\r') {
                    b.append("\\r");
                } else if (c == '\t') {
                    b.append("\\t");
                } else {
                    b.append(String.format(Locale.ROOT, "\\x%02x", (int) c));
                }
            }
        }
        return b == null ? s : b.toString();
    }

    /** "{where}: {what}" — the form every input error takes. */
    public static InputException at(Object where, String what) {
        return new InputException(where + ": " + what);
    }
}
