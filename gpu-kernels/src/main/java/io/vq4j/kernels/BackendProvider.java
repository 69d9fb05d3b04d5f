package io.vq4j.kernels;

import java.util.List;

/**
 * A backend that is not part of the default build, found through {@link java.util.ServiceLoader}
 * (META-INF/services/io.vq4j.kernels.BackendProvider in its jar): the TornadoVM backend of the
 * optional {@code tornado} module. {@link Backends} lists its devices and opens
 * {@code --device <prefix>[:...]} through it.
 */
public interface BackendProvider {
    /** The --device prefix it answers to, e.g. "tornado". */
    String prefix();

    /** The device syntax, for messages: e.g. "tornado[:backend:device]". */
    String syntax();

    /** One line per device for `vq devices`, or one line saying why there is none. */
    List<Backends.Listing> list();

    /**
     * Opens {@code spec} (the prefix, or prefix:...). A malformed spec or an absent device throws
     * IllegalArgumentException, a runtime that cannot run IllegalStateException, each with one line.
     */
    Backend open(String spec);

    /** Whether a device can be opened at all (its runtime is loaded and has one); else {@link #unavailableReason()}. */
    boolean available();

    String unavailableReason();
}
