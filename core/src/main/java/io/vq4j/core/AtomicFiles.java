package io.vq4j.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Outputs appear only when complete: they are built under a hidden temporary name beside the
 * target and renamed over it. Temporary files are created owner-only; the finished output
 * gets the usual rw-r--r-- / rwxr-xr-x before the rename.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    public static Path tempFileBeside(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        Files.createDirectories(abs.getParent());
        return Files.createTempFile(abs.getParent(), "." + abs.getFileName() + ".", ".partial");
    }

    public static Path tempDirBeside(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        Files.createDirectories(abs.getParent());
        return Files.createTempDirectory(abs.getParent(), "." + abs.getFileName() + ".");
    }

    /** Writes a whole text file (UTF-8) under a temporary name, then renames it onto {@code target}. */
    public static void writeString(Path target, String text) throws IOException {
        Path tmp = tempFileBeside(target);
        try {
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            commit(tmp, target);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Writes a whole binary file under a temporary name, then renames it onto {@code target}; no temporary is left. */
    public static void write(Path target, byte[] bytes) throws IOException {
        Path tmp = tempFileBeside(target);
        try {
            Files.write(tmp, bytes);
            commit(tmp, target);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Renames a finished temporary file or directory onto {@code target}. */
    public static void commit(Path tmp, Path target) throws IOException {
        publish(tmp);
        Files.move(tmp, target.toAbsolutePath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void publish(Path p) throws IOException {
        if (Files.getFileAttributeView(p, PosixFileAttributeView.class) == null) {
            return;
        }
        if (Files.isDirectory(p)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
            try (var s = Files.list(p)) {
                for (Path q : s.toList()) {
                    publish(q);
                }
            }
        } else {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        }
    }
}
