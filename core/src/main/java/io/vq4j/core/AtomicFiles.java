package io.vq4j.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Outputs appear only when complete: they are built under a hidden temporary name beside the
 * target and renamed over it. Temporary files are created owner-only; the finished output
 * gets the usual rw-r--r-- / rwxr-xr-x before the rename. A process killed while writing leaves
 * its temporary behind ({@code .NAME.<digits>.partial}); the next run of the command that
 * writes NAME removes it ({@link #removeTemporaries}).
 */
public final class AtomicFiles {
    /** What {@link #tempFileBeside} names a temporary: {@code Files.createTempFile} puts an unsigned long there. */
    private static final Pattern TEMPORARY = Pattern.compile("\\.(.+)\\.[0-9]+\\.partial");

    private AtomicFiles() {
    }

    /** The name of the file a temporary of {@link #tempFileBeside} was to become, or null for any other name. */
    public static String temporaryTarget(String name) {
        Matcher m = TEMPORARY.matcher(name);
        return m.matches() ? m.group(1) : null;
    }

    /**
     * Deletes the temporaries {@link #tempFileBeside} made in {@code dir} for targets whose
     * names {@code targets} accepts (left by a killed run or a full disk); nothing else is
     * touched. Returns how many went.
     */
    public static int removeTemporaries(Path dir, Predicate<String> targets) throws IOException {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        int removed = 0;
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.sorted().toList()) {
                String target = temporaryTarget(p.getFileName().toString());
                if (target != null && targets.test(target) && Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    Files.deleteIfExists(p);
                    removed++;
                }
            }
        }
        return removed;
    }

    /**
     * Deletes the temporary directories {@link #tempDirBeside} made for {@code target}
     * ({@code .NAME.<digits>} beside it, left by a killed run), with what they hold; links are
     * removed, never followed. Returns how many went.
     */
    public static int removeTemporaryDirs(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        Pattern mine = Pattern.compile(Pattern.quote("." + abs.getFileName() + ".") + "[0-9]+");
        if (!Files.isDirectory(abs.getParent())) {
            return 0;
        }
        int removed = 0;
        try (Stream<Path> s = Files.list(abs.getParent())) {
            for (Path p : s.sorted().toList()) {
                if (mine.matcher(p.getFileName().toString()).matches()
                        && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    deleteTree(p);
                    removed++;
                }
            }
        }
        return removed;
    }

    private static void deleteTree(Path dir) throws IOException {
        Files.walkFileTree(dir, new SimpleFileVisitor<>() { // does not follow links
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** {@link #removeTemporaries} for the one file {@code target}. */
    public static int removeTemporaries(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        String name = abs.getFileName().toString();
        return removeTemporaries(abs.getParent(), name::equals);
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
