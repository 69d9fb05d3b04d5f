package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.testing.SharedData;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `vq sweep` on the real stories260K model, as a user runs it: outputs, numbers, resume, errors. */
class SweepCliTest {
    static final String MODEL = SharedData.stories260K().toString();
    static final String TEXT = SharedData.file("tinystories/tinystories_val.txt").toString();

    static List<String> args(Path out, String configs, String... more) {
        List<String> a = new ArrayList<>(List.of("sweep", "--model", MODEL, "--calib", TEXT, "--text", TEXT,
                "--limit-bytes", "12000", "--ctx", "256", "--calib-samples", "4", "--calib-len", "64",
                "--real-samples", "2", "--random-rows", "64", "--configs", configs, "--out", out.toString()));
        a.addAll(List.of(more));
        return a;
    }

    static CliEndToEndTest.Run vq(List<String> a) {
        return CliEndToEndTest.vq(a.toArray(String[]::new));
    }

    @Test
    void sweepWritesEveryOutputAgreesWithEvalPplAndResumes(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("sweep");
        String configs = "rtn:bits=3,group-size=32;kmeans:dim=2,centroids=16";
        CliEndToEndTest.Run r = vq(args(out, configs));
        assertEquals(0, r.code(), r.err());
        assertEquals(3, r.out().lines().count(), r.out());
        JsonNode s = new ObjectMapper().readTree(out.resolve("sweep.json").toFile());
        assertEquals(2, s.path("configs").size());

        // stacked numbers: the same as `vq eval ppl` on the packed directory and on the original
        double fp = evalPpl(Path.of(MODEL));
        assertEquals(fp, s.path("reference_ppl").asDouble(), 0.0);
        for (JsonNode c : s.path("configs")) {
            Path packed = out.resolve("runs").resolve(c.path("slug").asText()).resolve("model");
            assertEquals(evalPpl(packed), c.path("ppl").asDouble(), 0.0, c.path("name").asText());
            assertTrue(c.path("ppl").asDouble() > fp, "quantization costs something: " + c);
            assertEquals(c.path("ppl").asDouble() / fp, c.path("ppl_ratio").asDouble(), 1e-12);
            assertTrue(c.path("mean_kl").asDouble() > 0);
            double top1 = c.path("top1_agreement").asDouble();
            assertTrue(top1 > 0.05 && top1 < 1, "top-1 " + top1);
            assertEquals(35, c.path("layers").size());
            for (JsonNode l : c.path("layers")) {
                for (String k : List.of("cosine_random", "cosine_real")) {
                    double cos = l.path(k).asDouble();
                    assertTrue(cos > 0.5 && cos < 1, l.path("name").asText() + " " + k + " " + cos);
                }
                assertTrue(l.path("sqnr_db").asDouble() > 0 && l.path("mse").asDouble() > 0, l.toString());
            }
            // the true bits are those of `vq inspect`
            JsonNode ins = CliEndToEndTest.vq("inspect", packed.toString(), "--json").json();
            assertEquals(ins.path("true_bits_per_weight").asDouble(), c.path("true_bits_per_weight").asDouble(), 1e-9);
        }
        assertEquals(7, s.path("spearman_vs_ppl_ratio").size());

        String md = Files.readString(out.resolve("sweep.md"));
        assertTrue(md.contains("| rtn bits=3 group-size=32 | "), md);
        assertTrue(md.contains("| kmeans dim=2 centroids=16 | "), md);
        assertTrue(md.contains("Spearman"), md);
        for (String png : List.of("ppl-vs-bits.png", "cosine-vs-ppl.png")) {
            BufferedImage im = ImageIO.read(out.resolve(png).toFile());
            assertEquals(1000, im.getWidth(), png);
        }

        // started again: nothing is recomputed
        Path result = out.resolve("runs/kmeans-dim2-centroids16/result.json");
        FileTime before = Files.getLastModifiedTime(result);
        String bytes = Files.readString(result);
        r = vq(args(out, configs));
        assertEquals(0, r.code(), r.err());
        assertEquals(2, r.out().lines().filter(l -> l.endsWith("(done before)")).count(), r.out());
        assertEquals(before, Files.getLastModifiedTime(result));
        assertEquals(bytes, Files.readString(result));

        // other settings on the same directory: refused, nothing changed
        r = vq(args(out, configs, "--seed", "7"));
        assertEquals(2, r.code(), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().contains("other settings"), r.err());
    }

    static double evalPpl(Path model) throws Exception {
        CliEndToEndTest.Run r = CliEndToEndTest.vq("eval", "ppl", "--model", model.toString(), "--text", TEXT,
                "--limit-bytes", "12000", "--ctx", "256", "--json");
        assertEquals(0, r.code(), r.err());
        return r.json().path("ppl").asDouble();
    }

    @Test
    void badSweepsExit2WithOneLineAndWriteNothing(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        String[][] cases = {
                {"awq:bits=4", "unknown method"},
                {"rtn:bits=2;kmeans:dim=2,centroid=16", "unknown option 'centroid'"},
                {"rtn:bits=x", "not an integer"},
                {"kmeans:dim=3", "kmeans"}, // 64 columns are not a multiple of 3: refused before any work
                {"rtn:bits=9", "bits"},
        };
        for (String[] c : cases) {
            CliEndToEndTest.Run r = vq(args(out, c[0]));
            assertEquals(2, r.code(), c[0] + " -> " + r.err());
            assertEquals(1, r.err().lines().count(), c[0] + " -> " + r.err());
            assertTrue(r.err().startsWith("vq: --configs: "), r.err());
            assertTrue(r.err().contains(c[1]), r.err());
            assertFalse(r.err().contains("Exception"), r.err());
            assertFalse(Files.exists(out), c[0] + ": nothing written");
        }
        CliEndToEndTest.Run r = vq(List.of("sweep", "--model", MODEL, "--calib", TEXT, "--text",
                dir.resolve("missing.txt").toString(), "--configs", "rtn", "--out", out.toString()));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("missing.txt"), r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void residualLeverReportsBothLocatorsAgainstLargerCodebooks(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("lever");
        List<String> a = new ArrayList<>(List.of("experiment", "residual-lever", "--model", MODEL, "--calib", TEXT,
                "--text", TEXT, "--limit-bytes", "12000", "--ctx", "256", "--calib-samples", "4", "--calib-len", "64",
                "--real-samples", "2", "--random-rows", "64", "--base", "kmeans:dim=2,centroids=16", "--larger",
                "kmeans:dim=2,centroids=64", "--budgets", "2,20", "--out", out.toString()));
        CliEndToEndTest.Run r = vq(a);
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(out.resolve("residual-lever.json").toFile());
        double base = j.path("base").path("ppl").asDouble();
        double baseBits = j.path("base").path("true_bits_per_weight").asDouble();
        assertEquals(2, j.path("lever").size());
        double previous = base;
        for (JsonNode p : j.path("lever")) {
            // keeping more of the worst sub-vectors exactly costs bits and buys perplexity
            assertTrue(p.path("ppl").asDouble() < previous, p.toString());
            previous = p.path("ppl").asDouble();
            assertTrue(p.path("true_bits_per_weight").asDouble() > baseBits, p.toString());
            assertTrue(p.path("true_bits_per_weight_index_list").asDouble() > baseBits, p.toString());
            // 1 bitmap bit per 2-d sub-vector = 0.5 bits/weight, plus 16 bits per kept weight
            double share = p.path("kept").asDouble() / p.path("vectors").asDouble();
            assertEquals(share * 100, p.path("budget_percent").asDouble(), 0.05);
            assertEquals(0.5 + 16 * share, p.path("extra_bits_per_weight").asDouble(), 0.01, p.toString());
        }
        assertTrue(Files.readString(out.resolve("residual-lever.md")).contains("base + 20% fp16 sub-vectors"));
        assertEquals(1000, ImageIO.read(out.resolve("residual-lever.png").toFile()).getWidth());
        // a scalar base is refused before any work
        a.set(a.indexOf("kmeans:dim=2,centroids=16"), "rtn:bits=2");
        a.set(a.indexOf(out.toString()), dir.resolve("other").toString());
        r = vq(a);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--base"), r.err());
        assertFalse(Files.exists(dir.resolve("other")));
    }

    @Test
    void seedsGiveTheSpreadOfEveryMetricAndResume(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("sweep");
        String configs = "rtn:bits=3,group-size=32;kmeans:dim=2,centroids=16";
        CliEndToEndTest.Run r = vq(args(out, configs, "--seeds", "3", "--seed", "5"));
        assertEquals(0, r.code(), r.err());
        assertEquals(7, r.out().lines().count(), r.out()); // 2 configs x 3 seeds, then "wrote"
        assertTrue(r.out().contains("(2 configurations,"), r.out());
        JsonNode s = new ObjectMapper().readTree(out.resolve("sweep.json").toFile());
        assertEquals(3, s.path("settings").path("seeds").asInt());
        assertEquals(2, s.path("configs").size());
        List<Double> kmeansPpl = new ArrayList<>();
        for (JsonNode c : s.path("configs")) {
            assertEquals("[5,6,7]", c.path("seeds").toString());
            JsonNode runs = c.path("runs");
            assertEquals(3, runs.size());
            double[] ppl = new double[3];
            boolean rtn = c.path("method").asText().equals("rtn");
            assertEquals(rtn, c.path("seed_free").asBoolean(), c.toString());
            for (int i = 0; i < 3; i++) {
                JsonNode run = runs.get(i);
                assertEquals(5 + i, run.path("seed").asLong());
                Path packed = out.resolve("runs").resolve(c.path("slug").asText()).resolve("seed-" + (5 + i))
                        .resolve("model");
                ppl[i] = run.path("ppl").asDouble();
                if (rtn && i > 0) {
                    // rtn declares that it uses no seed: run once, its result stands for the other seeds
                    assertFalse(Files.exists(packed), packed.toString());
                    assertEquals(ppl[0], ppl[i], 0.0);
                    continue;
                }
                // each seed's run is a real quantize directory, evaluated as `vq eval ppl` does
                assertEquals(evalPpl(packed), ppl[i], 0.0, c.path("name").asText() + " seed " + (5 + i));
            }
            if (rtn) {
                // and that is what running it with another seed gives: the same model, bit for bit
                Path seed7 = dir.resolve("rtn-seed-7");
                CliEndToEndTest.Run q = CliEndToEndTest.vq("quantize", "--model", MODEL, "--calib", TEXT,
                        "--calib-samples", "4", "--calib-len", "64", "--method", "rtn", "--bits", "3",
                        "--group-size", "32", "--seed", "7", "--out", seed7.toString());
                assertEquals(0, q.code(), q.err());
                Path seed5 = out.resolve("runs").resolve(c.path("slug").asText()).resolve("seed-5").resolve("model");
                List<Path> files;
                try (var fs = Files.list(seed5)) {
                    files = fs.filter(f -> f.toString().endsWith(".safetensors")).sorted().toList();
                }
                assertFalse(files.isEmpty(), seed5.toString());
                for (Path f : files) {
                    assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(seed7.resolve(f.getFileName())),
                            f.toString());
                }
            }
            double mean = (ppl[0] + ppl[1] + ppl[2]) / 3;
            double sd = Math.sqrt(((ppl[0] - mean) * (ppl[0] - mean) + (ppl[1] - mean) * (ppl[1] - mean)
                    + (ppl[2] - mean) * (ppl[2] - mean)) / 2);
            JsonNode st = c.path("stats").path("ppl");
            assertEquals(mean, st.path("mean").asDouble(), 1e-12 * mean);
            assertEquals(sd, st.path("sd").asDouble(), 1e-9 * mean + 1e-12);
            assertEquals(Math.min(ppl[0], Math.min(ppl[1], ppl[2])), st.path("min").asDouble(), 0.0);
            assertEquals(Math.max(ppl[0], Math.max(ppl[1], ppl[2])), st.path("max").asDouble(), 0.0);
            for (String k : List.of("true_bits_per_weight", "ppl_ratio", "mean_kl", "top1_agreement",
                    "mean_cosine_real", "mean_sqnr_db")) {
                JsonNode m = c.path("stats").path(k);
                assertTrue(m.path("min").asDouble() <= m.path("mean").asDouble()
                        && m.path("mean").asDouble() <= m.path("max").asDouble(), k + " " + m);
            }
            if (c.path("method").asText().equals("kmeans")) {
                for (double p : ppl) {
                    kmeansPpl.add(p);
                }
            } else {
                // rtn has nothing random: every seed gives the same model
                assertEquals(0.0, st.path("sd").asDouble(), 0.0, "rtn over seeds " + st);
            }
        }
        // k-means' initialisation follows the seed: the seeds are real runs, not copies
        assertTrue(kmeansPpl.stream().distinct().count() > 1, "kmeans ppl over seeds " + kmeansPpl);
        String md = Files.readString(out.resolve("sweep.md"));
        assertTrue(md.contains("3 seeds per configuration (5 to 7)"), md);
        assertTrue(md.contains(" ± "), md);
        assertTrue(md.contains("| rtn bits=3 group-size=32 | 3 (seed-free) |"), md);
        assertTrue(md.contains("| kmeans dim=2 centroids=16 | 3 |"), md);
        assertTrue(r.err().contains("rtn does not use the seed; seed 5's result stands for seed 6 (not run again)"),
                r.err());
        assertTrue(md.contains("## Orderings beyond the seeds' spread"), md);
        for (String png : List.of("ppl-vs-bits.png", "cosine-vs-ppl.png")) {
            assertEquals(1000, ImageIO.read(out.resolve(png).toFile()).getWidth(), png);
        }

        // started again: every run is read back, none is quantized again
        CliEndToEndTest.Run again = vq(args(out, configs, "--seeds", "3", "--seed", "5"));
        assertEquals(0, again.code(), again.err());
        assertEquals(6, again.out().lines().filter(l -> l.contains("(done before)")).count(), again.out());
        assertEquals(s.path("configs").toString(), new ObjectMapper().readTree(out.resolve("sweep.json").toFile())
                .path("configs").toString());

        // another seed count is another sweep
        CliEndToEndTest.Run other = vq(args(out, configs, "--seeds", "2", "--seed", "5"));
        assertEquals(2, other.code(), other.err());
        assertTrue(other.err().contains("holds a sweep with other settings"), other.err());
        CliEndToEndTest.Run bad = vq(args(dir.resolve("bad"), configs, "--seeds", "0"));
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("--seeds: must be 1..100, got 0"), bad.err());
    }
}
