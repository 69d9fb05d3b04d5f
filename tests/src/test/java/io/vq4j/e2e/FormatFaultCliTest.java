package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packed format's faults and the options that once accepted nonsense (issue 21 items 8 and
 * 15, zero windows): flipped bytes in a packed file are refused naming the file and the tensor
 * unless the check is skipped, format 1 still loads, and each bad option or model limit is one
 * line with exit code 2.
 */
class FormatFaultCliTest {
    static final String TEXT = SharedData.tinyStoriesVal().toString();
    static final String MODEL = SharedData.stories260K().toString();
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path work;
    /** stories260K quantized with rtn 4-bit (format 2), shared by the tests that copy it. */
    static Path packed;

    @BeforeAll
    static void quantize() {
        packed = work.resolve("rtn");
        CliEndToEndTest.Run r = CliEndToEndTest.vq("quantize", "--model", MODEL, "--calib", TEXT, "--method", "rtn",
                "--bits", "4", "--group-size", "32", "--calib-samples", "4", "--calib-len", "64",
                "--out", packed.toString());
        assertEquals(0, r.code(), r.err());
    }

    private static Path copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path p : s.sorted(Comparator.naturalOrder()).toList()) {
                Files.copy(p, to.resolve(p.getFileName()));
            }
        }
        return to;
    }

    static void refused(CliEndToEndTest.Run r, String... parts) {
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        for (String p : parts) {
            assertTrue(r.err().contains(p), "'" + p + "' in: " + r.err());
        }
        assertFalse(r.err().contains("Exception"), r.err());
    }

    private static CliEndToEndTest.Run ppl(Path model, String... more) {
        String[] args = Stream.concat(Stream.of("eval", "ppl", "--model", model.toString(), "--text", TEXT,
                "--limit-bytes", "4000", "--json"), Stream.of(more)).toArray(String[]::new);
        return CliEndToEndTest.vq(args);
    }

    private static double meanNll(CliEndToEndTest.Run r) throws IOException {
        assertEquals(0, r.code(), r.err());
        return r.json().path("mean_nll").asDouble();
    }

    /** Flips bit {@code bit} of byte {@code index} of tensor {@code name}; returns the file that holds it. */
    private static String flip(Path dir, String name, long index, int bit) throws IOException {
        Path file;
        long at;
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(dir)) {
            file = st.fileOf(name).path();
            at = st.info(name).begin() + index;
        }
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(at);
            int b = f.read();
            f.seek(at);
            f.write(b ^ (1 << bit));
        }
        return file.getFileName().toString();
    }

    @Test
    void aFlippedBitInAPackedTensorIsRefusedNamingTheFileAndTensor() throws IOException {
        double clean = meanNll(ppl(packed));
        Path m = copy(packed, work.resolve("flipped"));
        String tensor = "model.layers.2.mlp.down_proj.indices";
        String file = flip(m, tensor, 17, 2);
        String[] what = {file, "tensor '" + tensor + "' fails its CRC32C check", "the file is corrupt"};
        refused(ppl(m), what);
        refused(CliEndToEndTest.vq("generate", "--model", m.toString(), "--temperature", "0", "--max-tokens", "4"),
                what);
        refused(CliEndToEndTest.vq("inspect", "--verify", m.toString()), what);
        refused(CliEndToEndTest.vq("dequantize", m.toString(), work.resolve("flipped-dense").toString()), what);
        assertFalse(Files.exists(work.resolve("flipped-dense")), "nothing half-written");
        // skipped, the flipped code is read as it is: a different number (why the check is on by default)
        assertNotEquals(clean, meanNll(ppl(m, "--no-verify")));
        assertEquals(0, CliEndToEndTest.vq("dequantize", "--no-verify", m.toString(),
                work.resolve("flipped-dense").toString()).code());
    }

    @Test
    void inspectVerifyPassesOnAnIntactModel() throws IOException {
        CliEndToEndTest.Run r = CliEndToEndTest.vq("inspect", "--verify", packed.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("verified: every tensor of the 35 packed layers matches its CRC32C"), r.out());
        r = CliEndToEndTest.vq("inspect", "--verify", "--json", packed.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(35, r.json().path("verified_layers").asInt());
        // only packed models have checksums
        refused(CliEndToEndTest.vq("inspect", "--verify", MODEL), "--verify: not a packed vq4j model");
    }

    /** Rewrites every shard of {@code dir} with its layouts as format 1 (no checksums), as the old writer did. */
    private static void toFormat1(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(x -> x.toString().endsWith(".safetensors")).sorted().toList()) {
                SafeTensorsWriter w = new SafeTensorsWriter();
                try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
                    for (Map.Entry<String, String> e : f.metadata().entrySet()) {
                        String v = e.getValue();
                        if (e.getKey().startsWith("vq4j.layer.")) {
                            ObjectNode o = (ObjectNode) JSON.readTree(v);
                            o.remove("crc32c");
                            o.put("format", 1);
                            v = o.toString();
                        }
                        w.metadata(e.getKey(), v);
                    }
                    for (String t : f.names()) {
                        SafeTensorsFile.TensorInfo i = f.info(t);
                        w.addBytes(t, i.dtype(), i.shape(), f.data(t).toArray(ValueLayout.JAVA_BYTE));
                    }
                }
                Path tmp = dir.resolve(p.getFileName() + ".new");
                w.write(tmp);
                Files.move(tmp, p, StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    @Test
    void aFormat1ModelStillLoadsAndGivesTheSameNumbers() throws IOException {
        double clean = meanNll(ppl(packed));
        Path old = copy(packed, work.resolve("format1"));
        toFormat1(old);
        assertEquals(clean, meanNll(ppl(old)), 0.0, "the same layers, read without checksums");
        refused(CliEndToEndTest.vq("inspect", "--verify", old.toString()), "--verify: packed layer",
                "is format 1, which has no checksums");
        assertEquals(0, CliEndToEndTest.vq("inspect", old.toString()).code());
    }

    @Test
    void nonsenseQuantizeOptionsAreRefusedBeforeAnyWork() {
        String[][] cases = {
                {"rtn", "--calib-len", "-5", "--calib-len: must be 0 (the default: min(512, the model's max)) or at"
                        + " least 2, got -5"},
                {"kmeans", "--tol", "-1", "kmeans on q_proj (64x64): --tol must be a finite number >= 0, got -1.0"},
                {"kmeans", "--tol", "NaN", "--tol must be a finite number >= 0, got NaN"},
                {"gptvq", "--tol", "-1", "--tol must be a finite number >= 0, got -1.0"},
                {"kmeans", "--group-size", "-1", "--group-size must be >= 0 (0 = whole rows), got -1"},
                {"kmeans", "--group-rows", "-1", "--group-rows must be >= 0 (0 = all rows), got -1"},
                {"rtn", "--group-size", "-1", "--group-size must be >= 0, got -1"},
                {"gptq", "--percdamp", "-1", "--percdamp: must be a number in 0..100, got -1.0"},
                {"gptq", "--percdamp", "1e308", "--percdamp: must be a number in 0..100, got 1.0E308"},
                {"gptq", "--percdamp", "NaN", "--percdamp: must be a number in 0..100, got NaN"},
                {"kmeans", "--iters", "0", "--iters must be at least 1 (k-means iterations), got 0"},
                {"vptq", "--iters", "-2", "--iters must be at least 1 (k-means iterations), got -2"},
        };
        int i = 0;
        for (String[] c : cases) {
            Path out = work.resolve("option-" + i++);
            refused(CliEndToEndTest.vq("quantize", "--model", MODEL, "--calib", TEXT, "--calib-samples", "2",
                    "--method", c[0], c[1], c[2], "--out", out.toString()), c[3]);
            assertFalse(Files.exists(out), "nothing left behind: " + out);
        }
    }

    @Test
    void aModelWithRoomForNoWindowIsAnInputErrorNamingItsLimit() throws IOException {
        Path m = work.resolve("one-position");
        assertEquals(0, CliEndToEndTest.vq("convert", "--model", MODEL, "--out", m.toString()).code());
        String cfg = Files.readString(m.resolve("config.json"));
        String one = cfg.replaceAll("\"max_position_embeddings\" : \\d+", "\"max_position_embeddings\" : 1");
        assertNotEquals(cfg, one);
        Files.writeString(m.resolve("config.json"), one);
        String why = m + ": the model's maximum sequence length (max_position_embeddings) is 1: no room for a token"
                + " and its prediction (at least 2 positions)";
        // once: "--ctx: must be in 2..1 for this model, got 1" for a --ctx nobody gave
        refused(CliEndToEndTest.vq("eval", "ppl", "--model", m.toString(), "--text", TEXT, "--limit-bytes", "2000"),
                why);
        refused(CliEndToEndTest.vq("generate", "--model", m.toString(), "--max-tokens", "4"), why);
        refused(CliEndToEndTest.vq("sweep", "--model", m.toString(), "--calib", TEXT, "--text", TEXT, "--configs",
                "rtn:bits=4", "--out", work.resolve("one-position-sweep").toString(), "--limit-bytes", "2000",
                "--calib-samples", "2"), why);
    }
}
