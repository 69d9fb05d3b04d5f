package io.vq4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The temporaries a killed run leaves (issue 21 item 6): recognised by the names AtomicFiles
 * gives them, and only those are removed; links are not followed.
 */
class AtomicFilesTest {
    @Test
    void aTemporaryIsKnownByTheNameTempFileBesideGivesIt(@TempDir Path dir) throws IOException {
        Path made = AtomicFiles.tempFileBeside(dir.resolve("config.json"));
        assertEquals("config.json", AtomicFiles.temporaryTarget(made.getFileName().toString()));
        assertEquals("a.b", AtomicFiles.temporaryTarget(".a.b.18446744073709551615.partial"));
        assertNull(AtomicFiles.temporaryTarget("config.json.5.partial"), "no leading dot");
        assertNull(AtomicFiles.temporaryTarget(".config.json.5x.partial"), "not digits");
        assertNull(AtomicFiles.temporaryTarget(".config.json.5.tmp"));
        assertNull(AtomicFiles.temporaryTarget(".config.json..partial"));
    }

    @Test
    void onlyTheTemporariesOfTheNamedTargetsGo(@TempDir Path dir) throws IOException {
        Path a = Files.write(dir.resolve(".a.bin.12.partial"), new byte[0]);
        Path b = Files.write(dir.resolve(".b.bin.12.partial"), new byte[]{1});
        Path plain = Files.write(dir.resolve("a.bin"), new byte[]{2});
        Path odd = Files.write(dir.resolve(".a.bin.x.partial"), new byte[0]);
        Path subdir = Files.createDirectories(dir.resolve(".a.bin.13.partial"));
        assertEquals(1, AtomicFiles.removeTemporaries(dir, Set.of("a.bin")::contains));
        assertFalse(Files.exists(a));
        assertTrue(Files.exists(b) && Files.exists(plain) && Files.exists(odd) && Files.isDirectory(subdir));
        assertEquals(1, AtomicFiles.removeTemporaries(dir.resolve("b.bin")));
        assertFalse(Files.exists(b));
        assertEquals(0, AtomicFiles.removeTemporaries(dir.resolve("missing").resolve("c.bin")), "no directory");
    }

    @Test
    void aTemporaryDirectoryGoesWithWhatItHoldsButNotThroughALink(@TempDir Path dir) throws IOException {
        Path outside = Files.createDirectories(dir.resolve("outside"));
        Path keep = Files.writeString(outside.resolve("keep.txt"), "keep");
        Path parent = Files.createDirectories(dir.resolve("p"));
        Path tmp = AtomicFiles.tempDirBeside(parent.resolve("model"));
        Files.writeString(tmp.resolve("config.json"), "{}");
        Files.createDirectories(tmp.resolve("sub"));
        Files.write(tmp.resolve("sub").resolve(".model.safetensors.9.partial"), new byte[3]);
        Files.createSymbolicLink(tmp.resolve("link"), outside);
        Path other = Files.createDirectories(parent.resolve(".model2.5"));
        Path notDigits = Files.createDirectories(parent.resolve(".model.x5"));
        Path linkNamedLikeOne = Files.createSymbolicLink(parent.resolve(".model.77"), outside);
        assertEquals(1, AtomicFiles.removeTemporaryDirs(parent.resolve("model")));
        assertFalse(Files.exists(tmp));
        assertTrue(Files.exists(keep), "the link was removed, not followed");
        assertTrue(Files.isDirectory(other) && Files.isDirectory(notDigits));
        assertTrue(Files.isSymbolicLink(linkNamedLikeOne), "a link is not a temporary directory");
        assertEquals(0, AtomicFiles.removeTemporaryDirs(dir.resolve("nowhere").resolve("model")));
    }
}
