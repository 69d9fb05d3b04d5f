package io.vq4j.core;

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

    /** "{where}: {what}" — the form every input error takes. */
    public static InputException at(Object where, String what) {
        return new InputException(where + ": " + what);
    }
}
