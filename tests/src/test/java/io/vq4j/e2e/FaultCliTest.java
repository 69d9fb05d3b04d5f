package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Corrupt inputs a user can give the CLI, each of which once gave a wrong number with exit 0
 * (issue 21): every one must be one line on stderr naming what is wrong, exit code 2.
 */
class FaultCliTest {
    static final String TEXT = SharedData.tinyStoriesVal().toString();
    @TempDir
    static Path work;
    static Path hf;

    @BeforeAll
    static void convert() {
        hf = work.resolve("hf");
        CliEndToEndTest.Run r = CliEndToEndTest.vq("convert", "--model", SharedData.stories260K().toString(),
                "--out", hf.toString());
        assertEquals(0, r.code(), r.err());
    }

    /** A copy of a model directory. */
    private static Path copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path p : s.sorted(Comparator.naturalOrder()).toList()) {
                Files.copy(p, to.resolve(p.getFileName()));
            }
        }
        return to;
    }

    /** Overwrites the {@code bytes} at element {@code index} (of {@code width} bytes) of tensor {@code name}. */
    private static void poke(Path dir, String name, long index, int width, long bits) throws IOException {
        Path file;
        long at;
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(dir)) {
            file = st.fileOf(name).path();
            at = st.info(name).begin() + index * width;
        }
        ByteBuffer b = ByteBuffer.allocate(width).order(ByteOrder.LITTLE_ENDIAN);
        if (width == 2) {
            b.putShort((short) bits);
        } else {
            b.putInt((int) bits);
        }
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(at);
            f.write(b.array());
        }
    }

    private static void refused(CliEndToEndTest.Run r, String... parts) {
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        for (String p : parts) {
            assertTrue(r.err().contains(p), "'" + p + "' in: " + r.err());
        }
        assertFalse(r.err().contains("Exception"), r.err());
    }

    private static CliEndToEndTest.Run ppl(Path model) {
        return CliEndToEndTest.vq("eval", "ppl", "--model", model.toString(), "--text", TEXT, "--limit-bytes", "4000");
    }

    @Test
    void aNaNWeightIsRefusedNamingTheTensorAndWhere() throws IOException {
        Path m = copy(hf, work.resolve("nan"));
        poke(m, "model.layers.2.mlp.up_proj.weight", 64 * 3 + 5, 4, Float.floatToRawIntBits(Float.NaN));
        refused(ppl(m), "tensor 'model.layers.2.mlp.up_proj.weight' has a non-finite value (NaN) at index 197"
                + " (row 3, column 5)");
        refused(CliEndToEndTest.vq("convert", "--model", m.toString(), "--out", work.resolve("nan-out").toString()),
                "non-finite");
        assertFalse(Files.exists(work.resolve("nan-out")), "nothing half-written");
    }

    @Test
    void anInfiniteNormIsRefused() throws IOException {
        Path m = copy(hf, work.resolve("inf"));
        poke(m, "model.norm.weight", 7, 4, Float.floatToRawIntBits(Float.NEGATIVE_INFINITY));
        refused(ppl(m), "tensor 'model.norm.weight' has a non-finite value (-Infinity) at index 7");
    }

    @Test
    void anInfiniteScaleInAPackedLayerIsRefused() throws IOException {
        Path q = work.resolve("rtn");
        CliEndToEndTest.Run r = CliEndToEndTest.vq("quantize", "--model", SharedData.stories260K().toString(),
                "--calib", TEXT, "--method", "rtn", "--bits", "4", "--group-size", "32", "--calib-samples", "4",
                "--calib-len", "64", "--out", q.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(0, ppl(q).code());
        poke(q, "model.layers.1.self_attn.o_proj.scales", 3, 2, 0x7C00); // fp16 +infinity
        // the changed bytes fail their CRC32C first (FormatFaultCliTest); unchecked, the value is caught
        refused(CliEndToEndTest.vq("eval", "ppl", "--model", q.toString(), "--text", TEXT, "--limit-bytes", "4000",
                "--no-verify"), "packed layer 'model.layers.1.self_attn.o_proj' has a non-finite codebook or scale"
                + " value (Infinity)");
    }

    @Test
    void aHeaderLengthShortOfTheHeaderIsRefused() throws IOException {
        Path m = copy(hf, work.resolve("short-header"));
        Path file = m.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        long len = b.getLong(0);
        // writers pad the header with spaces; pointing the length into that padding kept the JSON
        // valid and read every tensor shifted (ppl 30,801 instead of 3.88, exit 0)
        int pad = 0;
        while (all[(int) (8 + len - 1 - pad)] == ' ') {
            pad++;
        }
        if (pad == 0) {
            // no padding in this file: make some, by moving the data one 8-byte step further
            byte[] grown = new byte[all.length + 8];
            System.arraycopy(all, 0, grown, 0, (int) (8 + len));
            Arrays.fill(grown, (int) (8 + len), (int) (16 + len), (byte) ' ');
            System.arraycopy(all, (int) (8 + len), grown, (int) (16 + len), (int) (all.length - 8 - len));
            all = grown;
            b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
            pad = 8;
            len += 8;
        }
        b.putLong(0, len - Math.min(pad, 4));
        Files.write(file, all);
        refused(ppl(m), "file not fully covered");
    }

    @Test
    void anOutputThatCannotBeCreatedIsOneLineWithExitTwoAndLeavesNothing() throws IOException {
        Path file = Files.writeString(work.resolve("a-file"), "x");
        CliEndToEndTest.Run r = CliEndToEndTest.vq("tokenize", "--model", SharedData.stories260K().toString(),
                "--text", TEXT, "--limit-bytes", "1000", "--out", file.resolve("sub").resolve("ids.bin").toString());
        refused(r, file.toString());
        r = CliEndToEndTest.vq("convert", "--model", SharedData.stories260K().toString(),
                "--out", file.resolve("hf").toString());
        refused(r, file.toString());
        try (Stream<Path> s = Files.list(work)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".partial")), "no temporaries left");
        }
    }

    @Test
    void controlCharactersInNamesNeverReachTheTerminal() {
        CliEndToEndTest.Run r = ppl(work.resolve("red\u001b[31mmodel\u0007"));
        refused(r, "red\\x1b[31mmodel\\x07: no such file or directory");
        assertFalse(r.err().chars().anyMatch(c -> c < 0x20 && c != '\n'), r.err());
    }

    @Test
    void anAbsurdContextLengthNoLongerAllocatesItsWholeCache() throws IOException {
        Path m = copy(hf, work.resolve("long-context"));
        String cfg = Files.readString(m.resolve("config.json"));
        Files.writeString(m.resolve("config.json"), cfg.replaceAll("\"max_position_embeddings\" : \\d+",
                "\"max_position_embeddings\" : 1073741824"));
        CliEndToEndTest.Run r = CliEndToEndTest.vq("generate", "--model", m.toString(), "--temperature", "0",
                "--max-tokens", "8");
        assertEquals(0, r.code(), r.err());
        refused(CliEndToEndTest.vq("generate", "--model", m.toString(), "--temperature", "0", "--max-tokens",
                "1000000000"), "positions needs", "GiB but the JVM has");
    }
}
