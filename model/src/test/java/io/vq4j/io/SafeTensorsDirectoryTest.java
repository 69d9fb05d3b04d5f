package io.vq4j.io;

import static io.vq4j.testing.InputErrors.fails;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A checkpoint directory's tensors are found by name, in one file or across index-listed shards. */
class SafeTensorsDirectoryTest {
    @TempDir
    Path dir;

    private void shard(String file, String... tensors) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (String t : tensors) {
            w.addFloats(t, DType.BF16, new long[] {2}, new float[] {t.length(), -t.length()});
        }
        w.write(dir.resolve(file));
    }

    private void index(String weightMap) throws IOException {
        Files.writeString(dir.resolve(SafeTensorsDirectory.INDEX),
                "{\"metadata\":{\"total_size\":24},\"weight_map\":{" + weightMap + "}}");
    }

    @Test
    void tensorsAreFoundInWhicheverShardTheIndexNames() throws IOException {
        shard("a.safetensors", "x", "yy");
        shard("b.safetensors", "zzz");
        index("\"x\":\"a.safetensors\",\"zzz\":\"b.safetensors\",\"yy\":\"a.safetensors\"");
        try (SafeTensorsDirectory d = SafeTensorsDirectory.open(dir)) {
            List<String> names = new ArrayList<>();
            d.names().forEach(names::add);
            assertEquals(List.of("x", "zzz", "yy"), names, "index order");
            assertEquals(dir.resolve("b.safetensors"), d.fileOf("zzz").path());
            assertEquals(dir.resolve("a.safetensors"), d.fileOf("yy").path());
            assertEquals(2, d.files().size(), "each shard opened once");
            assertArrayEquals(new float[] {3, -3}, d.floats("zzz"));
            assertArrayEquals(new float[] {2, -2}, d.floats("yy"));
            assertEquals(DType.BF16, d.info("x").dtype());
            assertEquals(4, d.data("x").byteSize());
            assertNull(d.fileOf("w"));
            fails(dir, "has no tensor 'w'", () -> d.floats("w"));
        }
    }

    @Test
    void aSingleFileDirectoryNeedsNoIndex() throws IOException {
        shard(SafeTensorsDirectory.SINGLE, "p", "q");
        try (SafeTensorsDirectory d = SafeTensorsDirectory.open(dir)) {
            assertTrue(d.contains("p") && d.contains("q"));
            assertArrayEquals(new float[] {1, -1}, d.floats("q"));
        }
    }

    @Test
    void directoryWithoutSafetensorsIsRejected() {
        fails(dir, "has neither model.safetensors nor model.safetensors.index.json", () -> SafeTensorsDirectory.open(dir));
    }

    @Test
    void indexThatIsNotJsonIsRejected() throws IOException {
        Files.writeString(dir.resolve(SafeTensorsDirectory.INDEX), "{\"weight_map\": {\"x\": ");
        fails(dir.resolve(SafeTensorsDirectory.INDEX), "is not valid JSON", () -> SafeTensorsDirectory.open(dir));
    }

    @Test
    void indexWithoutAWeightMapIsRejected() throws IOException {
        Files.writeString(dir.resolve(SafeTensorsDirectory.INDEX), "{\"metadata\":{}}");
        fails(dir.resolve(SafeTensorsDirectory.INDEX), "has no weight_map object", () -> SafeTensorsDirectory.open(dir));
    }

    @Test
    void indexEntryThatIsNotAStringIsRejected() throws IOException {
        index("\"x\":3");
        fails(dir.resolve(SafeTensorsDirectory.INDEX), "weight_map entry for tensor 'x' is not a file name string",
                () -> SafeTensorsDirectory.open(dir));
    }

    @Test
    void shardOutsideTheDirectoryIsRejected() throws IOException {
        index("\"x\":\"../elsewhere.safetensors\"");
        fails(dir.resolve(SafeTensorsDirectory.INDEX), "is not a plain file name", () -> SafeTensorsDirectory.open(dir));
    }

    @Test
    void missingShardIsRejected() throws IOException {
        shard("model-00001-of-00002.safetensors", "x");
        index("\"x\":\"model-00001-of-00002.safetensors\",\"y\":\"model-00002-of-00002.safetensors\"");
        fails(dir.resolve(SafeTensorsDirectory.INDEX),
                "names shard 'model-00002-of-00002.safetensors' for tensor 'y', but", () -> SafeTensorsDirectory.open(dir));
    }

    @Test
    void tensorListedInTheIndexButAbsentFromItsShardIsRejected() throws IOException {
        shard("s1.safetensors", "x");
        index("\"x\":\"s1.safetensors\",\"w\":\"s1.safetensors\"");
        fails(dir.resolve("s1.safetensors"), "has no tensor 'w', which model.safetensors.index.json places there",
                () -> SafeTensorsDirectory.open(dir));
    }

    @Test
    void corruptShardIsReportedByItsOwnName() throws IOException {
        Files.write(dir.resolve("s1.safetensors"), new byte[] {1, 2});
        index("\"x\":\"s1.safetensors\"");
        fails(dir.resolve("s1.safetensors"), "truncated", () -> SafeTensorsDirectory.open(dir));
    }
}
