package io.vq4j.quant.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two `vq quantize` runs into one --out used to mix their layers: the second must be refused while
 * the first holds the directory, by another process as well as in this one, and a lock left by a
 * killed run must not block the next.
 */
class RunLockTest {
    /** A second JVM that takes the lock the way a running `vq quantize` does, then waits to be killed. */
    private static final String HOLDER = """
            import java.nio.channels.FileChannel;
            import java.nio.file.*;
            public class Holder {
                public static void main(String[] a) throws Exception {
                    FileChannel ch = FileChannel.open(Path.of(a[0]), StandardOpenOption.CREATE,
                            StandardOpenOption.READ, StandardOpenOption.WRITE);
                    ch.lock();
                    ch.truncate(0);
                    ch.write(java.nio.ByteBuffer.wrap((ProcessHandle.current().pid() + "\\n").getBytes()), 0);
                    System.out.println("locked");
                    System.out.flush();
                    Thread.sleep(600_000);
                }
            }
            """;

    @Test
    void aSecondRunIsRefusedNamingTheFirstAndAKilledRunsLockIsStale(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("q");
        Path src = Files.writeString(dir.resolve("Holder.java"), HOLDER);
        Process holder = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                src.toString(), RunLock.fileFor(out).toString()).redirectErrorStream(true).start();
        try {
            BufferedReader r = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("locked", r.readLine());
            InputException e = assertThrows(InputException.class, () -> QuantizeJobTest.run(QuantizeJobTest.kmeans(), 1,
                    out, new QuantizeJob.Listener() { }));
            assertEquals(out + ": another vq quantize (pid " + holder.pid() + ") is writing into this directory; wait"
                    + " for it to finish or choose another --out", e.getMessage());
            assertFalse(Files.exists(out.resolve("config.json")), "nothing written by the refused run");
        } finally {
            holder.destroyForcibly();
            assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
        }
        // the holder was killed: its lock file is still there, its lock is not
        assertTrue(Files.exists(RunLock.fileFor(out)));
        QuantizeJobTest.run(QuantizeJobTest.kmeans(), 1, out, new QuantizeJob.Listener() { });
        assertTrue(Files.isRegularFile(out.resolve("config.json")));
        assertFalse(Files.exists(RunLock.fileFor(out)), "a finished run removes its lock file");
    }

    @Test
    void aRunInThisProcessHoldingTheDirectoryRefusesAnother(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("q");
        try (RunLock held = RunLock.acquire(out)) {
            InputException e = assertThrows(InputException.class, () -> QuantizeJobTest.run(QuantizeJobTest.kmeans(), 1,
                    out, new QuantizeJob.Listener() { }));
            assertTrue(e.getMessage().contains("(pid " + ProcessHandle.current().pid() + ") is writing into this"
                    + " directory"), e.getMessage());
        }
        assertFalse(Files.exists(RunLock.fileFor(out)));
    }
}
