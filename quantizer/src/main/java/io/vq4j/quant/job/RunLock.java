package io.vq4j.quant.job;

import io.vq4j.core.InputException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One `vq quantize` at a time per --out: an exclusive {@link FileLock} on a hidden file beside
 * the output directory ({@code .NAME.vq4j-lock}), held for the whole run, with the owner's pid in
 * it for the message a second run gets. Two runs into one directory used to mix the layers of
 * both. The operating system drops the lock when its process dies, so the file a killed run
 * leaves behind is stale by construction and the next run simply takes it over.
 */
final class RunLock implements AutoCloseable {
    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(Path file, FileChannel channel, FileLock lock) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
    }

    static Path fileFor(Path out) {
        Path abs = out.toAbsolutePath().normalize();
        return abs.resolveSibling("." + abs.getFileName() + ".vq4j-lock");
    }

    /** Takes the lock of {@code out}, or refuses with one line naming the run that holds it. */
    static RunLock acquire(Path out) {
        Path file = fileFor(out);
        FileChannel ch = null;
        try {
            Files.createDirectories(file.getParent());
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null; // held by this JVM
            }
            if (l == null) {
                String owner = Files.readString(file, StandardCharsets.UTF_8).strip();
                ch.close();
                throw InputException.at(out, "another vq quantize " + (owner.isEmpty() ? "" : "(pid " + owner + ") ")
                        + "is writing into this directory; wait for it to finish or choose another --out");
            }
            ch.truncate(0);
            ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8)), 0);
            ch.force(false);
            return new RunLock(file, ch, l);
        } catch (IOException e) {
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // the lock was not taken; nothing to release
                }
            }
            throw InputException.at(file, "cannot take the run lock: " + e.getMessage());
        }
    }

    /** Removes the lock file while still holding the lock, then releases it. */
    @Override
    public void close() {
        try {
            Files.deleteIfExists(file);
            lock.release();
            channel.close();
        } catch (IOException e) {
            throw InputException.io(e);
        }
    }
}
