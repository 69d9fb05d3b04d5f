package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.eval.sweep.EncoderSweep;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.testing.SharedData;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `vq sweep` on the real all-MiniLM-L6-v2 encoder (from the langchain4j jar on the test classpath). */
class EncoderSweepCliTest {
    /** 6 layers x (4 x 384x384 + 384x1536 + 1536x384) linear weights. */
    static final long WEIGHTS = 6L * (4 * 384 * 384 + 2 * 384 * 1536);

    static Path jar() throws Exception {
        URL u = EncoderSweepCliTest.class.getClassLoader().getResource("all-minilm-l6-v2.onnx");
        if (u == null || !u.getProtocol().equals("jar")) {
            throw new IllegalStateException("all-minilm-l6-v2.onnx is not in a jar on the test classpath: " + u);
        }
        String s = u.toString();
        return Path.of(new java.net.URI(s.substring("jar:".length(), s.indexOf("!/"))));
    }

    static List<String> args(Path out, String configs, String... more) throws Exception {
        Path text = SharedData.file("wikitext-2-raw/wiki.test.raw");
        List<String> a = new ArrayList<>(List.of("sweep", "--model", jar().toString(), "--calib", text.toString(),
                "--text", text.toString(), "--limit-bytes", "0", "--calib-samples", "12", "--sentences", "24",
                "--real-samples", "2", "--random-rows", "16", "--seed", "3", "--configs", configs, "--out",
                out.toString()));
        a.addAll(List.of(more));
        return a;
    }

    @Test
    void sentencesAreCutAtSentenceEndsAndFiltered() {
        String text = " = Heading = \n\n Short one . \n The first sentence has seven words in it. The second one"
                + " also has enough words here! \"Quoted start has six words here.\" tiny. \n";
        assertEquals(List.of("The first sentence has seven words in it.",
                "The second one also has enough words here!", "\"Quoted start has six words here.\" tiny."),
                EncoderSweep.sentences(text, 10));
        assertEquals(1, EncoderSweep.sentences(text, 1).size());
    }

    @Test
    void quantizesEveryLinearAndMeasuresSentenceEmbeddings(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("sw");
        CliEndToEndTest.Run r = CliEndToEndTest.vq(args(out, "rtn:bits=8,2,group-size=64").toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(out.resolve("sweep.json").toFile());
        JsonNode c8 = j.path("configs").get(0);
        JsonNode c2 = j.path("configs").get(1);
        assertEquals("rtn bits=8 group-size=64", c8.path("name").asText());
        for (JsonNode c : List.of(c8, c2)) {
            assertEquals(WEIGHTS, c.path("weights").asLong());
            assertEquals(36, c.path("layers").size());
            assertEquals(24, c.path("sentences").asInt());
            // true bits/weight is the packed file, counted here again
            Path f = out.resolve("runs").resolve(c.path("slug").asText()).resolve(EncoderSweep.LAYERS);
            assertEquals(Files.size(f) * 8.0 / WEIGHTS, c.path("true_bits_per_weight").asDouble(), 1e-12);
            try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
                assertTrue(st.contains("layer.5.ffn.out.indices"));
            }
            assertTrue(c.path("embedding_cosine_min").asDouble() <= c.path("embedding_cosine_p05").asDouble());
            assertTrue(c.path("embedding_cosine_p05").asDouble() <= c.path("embedding_cosine_mean").asDouble());
        }
        // 8 bits with a scale per 64 weights: 8 + 24/64 bits, plus the file's header and layouts
        double bpw8 = c8.path("true_bits_per_weight").asDouble();
        assertTrue(bpw8 > 8.375 && bpw8 < 8.5, "8-bit true bits/w " + bpw8);
        // 8-bit keeps the embeddings; 2-bit destroys them, though its per-tensor cosine is still 0.9
        assertTrue(c8.path("embedding_cosine_mean").asDouble() > 0.999, c8.toString());
        assertTrue(c2.path("embedding_cosine_mean").asDouble() < 0.8, c2.path("embedding_cosine_mean").toString());
        assertTrue(c2.path("mean_cosine_random").asDouble() > 0.85, c2.path("mean_cosine_random").toString());
        assertTrue(Files.readString(out.resolve("sweep.md")).contains("| rtn bits=2 group-size=64 |"));
        assertTrue(Files.size(out.resolve("embedding-error-vs-bits.png")) > 1000);

        // started again: the finished configurations are read back, not recomputed
        Path f8 = out.resolve("runs").resolve(c8.path("slug").asText()).resolve(EncoderSweep.LAYERS);
        FileTime before = Files.getLastModifiedTime(f8);
        r = CliEndToEndTest.vq(args(out, "rtn:bits=8,2,group-size=64").toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("(done before)"), r.out());
        assertEquals(before, Files.getLastModifiedTime(f8));
    }

    @Test
    void badEncoderSweepsExit2AndWriteNothing(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("sw");
        String[][] cases = {
                {"kmeans:dim=2,centroids=16,share-codebooks=kind"},
                {"kmeans:dim=5,centroids=16"},
                {"rtn:bits=4", "--ctx", "64"},
        };
        for (String[] c : cases) {
            List<String> a = args(out, c[0]);
            for (int i = 1; i < c.length; i++) {
                a.add(c[i]);
            }
            CliEndToEndTest.Run r = CliEndToEndTest.vq(a.toArray(String[]::new));
            assertEquals(2, r.code(), String.join(" ", c) + " -> " + r.err());
            assertEquals(1, r.err().lines().count(), r.err());
            assertFalse(r.err().contains("Exception"), r.err());
            assertFalse(Files.exists(out), "nothing written");
        }
    }

    @Test
    void seedsGiveTheSpreadOverRealRuns(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("sw");
        String configs = "kmeans:dim=2,centroids=16,iters=4";
        CliEndToEndTest.Run r = CliEndToEndTest.vq(args(out, configs, "--seeds", "2").toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(out.resolve("sweep.json").toFile());
        assertEquals(2, j.path("settings").path("seeds").asInt());
        JsonNode c = j.path("configs").get(0);
        assertEquals("[3,4]", c.path("seeds").toString());
        double a = c.path("runs").get(0).path("embedding_cosine_mean").asDouble();
        double b = c.path("runs").get(1).path("embedding_cosine_mean").asDouble();
        assertTrue(a != b, "k-means follows the seed: " + a + " " + b);
        for (int s = 3; s <= 4; s++) {
            assertTrue(Files.isRegularFile(out.resolve("runs").resolve(c.path("slug").asText()).resolve("seed-" + s)
                    .resolve(EncoderSweep.LAYERS)), "seed " + s);
        }
        JsonNode m = c.path("stats").path("embedding_cosine_mean");
        assertEquals((a + b) / 2, m.path("mean").asDouble(), 1e-15);
        assertEquals(Math.abs(a - b) / Math.sqrt(2), m.path("sd").asDouble(), 1e-12);
        assertEquals(Math.min(a, b), m.path("min").asDouble(), 0.0);
        assertTrue(Files.readString(out.resolve("sweep.md")).contains("2 seeds per configuration (3 to 4)"));
        CliEndToEndTest.Run again = CliEndToEndTest.vq(args(out, configs, "--seeds", "2").toArray(String[]::new));
        assertEquals(0, again.code(), again.err());
        assertEquals(2, again.out().lines().filter(l -> l.contains("(done before)")).count(), again.out());
    }
}
