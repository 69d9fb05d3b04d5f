package io.vq4j.kernels;

import io.vq4j.core.InputException;

import java.util.List;

/**
 * A GPU backend, found through {@link java.util.ServiceLoader}
 * (META-INF/services/io.vq4j.kernels.BackendProvider in its jar): opencl, cuda and the optional
 * tornado module each register one. {@code io.vq4j.kernels.select.Backends} lists their
 * devices, opens {@code --device <prefix>[:...]} through them and asks them, in
 * {@link #autoRank} order, for a device under {@code --device auto}.
 */
public interface BackendProvider {
    /** One line per device for `vq devices`. */
    record Listing(String device, String backend, String description) {
    }

    /** The --device prefix it answers to, e.g. "opencl". */
    String prefix();

    /** The device syntax, for messages: e.g. "opencl[:i]". */
    String syntax();

    /** Where its devices come in `vq devices` (lower first). */
    int listRank();

    /** Where it comes in --device auto (lower first), or -1 when auto never picks it. */
    default int autoRank() {
        return -1;
    }

    /**
     * For --device auto: the first device of this provider that auto may use (a GPU that builds
     * the kernels). Throws IllegalStateException with one line saying why there is none.
     */
    default Backend openAuto() {
        throw new IllegalStateException(prefix() + " does not take part in --device auto");
    }

    /** One line per device for `vq devices`, or one line saying why there is none. */
    List<Listing> list();

    /**
     * Opens {@code spec} (the prefix, or prefix:...). A malformed spec or an absent device throws
     * IllegalArgumentException, a runtime that cannot run IllegalStateException, each with one line.
     */
    Backend open(String spec);

    /** Whether a device can be opened at all (its runtime is loaded and has one); else {@link #unavailableReason()}. */
    boolean available();

    String unavailableReason();

    /** The device index of {@code prefix[:i]} (0 for the bare prefix); an input error otherwise. */
    static int index(String spec, String prefix) {
        if (spec.equals(prefix)) {
            return 0;
        }
        try {
            return Integer.parseInt(spec.substring(prefix.length() + 1));
        } catch (NumberFormatException e) {
            throw new InputException("--device: '" + spec + "' is not " + prefix + ":N");
        }
    }
}
