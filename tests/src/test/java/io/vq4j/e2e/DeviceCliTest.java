package io.vq4j.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.vq4j.kernels.opencl.OpenCl;
import io.vq4j.testing.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `vq devices`, `vq bench kernels` and `vq quantize --device opencl` on the first OpenCL device (PoCL in CI). */
class DeviceCliTest {
    @BeforeAll
    static void needOpenCl() {
        if (OpenCl.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
                fail("VQ_REQUIRE_OPENCL=1 but " + OpenCl.unavailableReason());
            }
            assumeTrue(false, "no OpenCL device: " + OpenCl.unavailableReason());
        }
    }

    @Test
    void devicesListsTheCpuAndOpenCl() {
        CliEndToEndTest.Run r = CliEndToEndTest.vq("devices");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("cpu ")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("opencl:0 ")), r.out());
    }

    @Test
    void benchKernelsTimesEveryKernelOnBothDevices() throws Exception {
        CliEndToEndTest.Run r = CliEndToEndTest.vq("bench", "kernels", "--device", "cpu,opencl", "--quick",
                "--repeats", "1", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = r.json();
        Set<String> seen = new HashSet<>();
        for (JsonNode row : j.path("rows")) {
            seen.add(row.path("device").asText() + " " + row.path("kernel").asText());
            assertTrue(row.path("seconds").asDouble() > 0, row.toString());
            if (row.path("device").asText().equals("opencl")) {
                assertTrue(row.path("speedup_vs_cpu").asDouble() > 0, row.toString());
            }
        }
        for (String d : new String[]{"cpu", "opencl"}) {
            for (String k : new String[]{"assign", "assign-weighted", "accumulate", "dequant-matvec", "dequant-matmul",
                    "hessian-gemm"}) {
                assertTrue(seen.contains(d + " " + k), d + " " + k + " in " + seen);
            }
        }
        assertEquals(0, CliEndToEndTest.vq("bench", "kernels", "--device", "opencl", "--quick", "--repeats", "1").code());
    }

    /** k-means uses no Hessian, so the OpenCL run must give the CPU's bytes exactly. */
    @Test
    void quantizeOnOpenClGivesTheCpusBytes(@TempDir Path dir) throws Exception {
        for (String dev : new String[]{"cpu", "opencl"}) {
            CliEndToEndTest.Run r = CliEndToEndTest.vq("quantize", "--model", SharedData.stories260K().toString(),
                    "--calib", SharedData.file("tinystories/tinystories_val.txt").toString(), "--method", "kmeans",
                    "--dim", "2", "--centroids", "32", "--calib-samples", "4", "--calib-len", "64", "--device", dev,
                    "--out", dir.resolve(dev).toString());
            assertEquals(0, r.code(), r.err());
        }
        for (int i = 1; i <= 6; i++) {
            String shard = String.format("model-%05d-of-00006.safetensors", i);
            assertArrayEquals(Files.readAllBytes(dir.resolve("cpu").resolve(shard)),
                    Files.readAllBytes(dir.resolve("opencl").resolve(shard)), shard);
        }
    }

    static Path quantize(Path dir, String dev, String... method) {
        java.util.List<String> a = new java.util.ArrayList<>(java.util.List.of("quantize", "--model",
                SharedData.stories260K().toString(), "--calib",
                SharedData.file("tinystories/tinystories_val.txt").toString(), "--calib-samples", "4", "--calib-len",
                "64", "--device", dev, "--out", dir.toString()));
        a.addAll(java.util.List.of(method));
        CliEndToEndTest.Run r = CliEndToEndTest.vq(a.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        return dir;
    }

    static JsonNode ppl(Path model, String dev) throws java.io.IOException {
        CliEndToEndTest.Run r = CliEndToEndTest.vq("eval", "ppl", "--model", model.toString(), "--text",
                SharedData.file("tinystories/tinystories_val.txt").toString(), "--limit-bytes", "12000", "--ctx", "256",
                "--device", dev, "--json");
        assertEquals(0, r.code(), r.err());
        return r.json();
    }

    /**
     * GPTVQ (Hessians by CLBlast's gemm on the device) quantized on OpenCL and on the CPU: the
     * packed models' perplexities agree within 0.1 %. Then packed models evaluated on OpenCL,
     * their layers kept packed on the device (dequantMatmul), against the CPU path (dequantized
     * on load): perplexity within 0.1 %, every one of the 35 linear layers on the device.
     */
    @Test
    void packedModelsOnOpenClMatchTheCpu(@TempDir Path dir) throws java.io.IOException {
        String[] gptvq = {"--method", "gptvq", "--dim", "2", "--centroids", "64", "--int8-codebooks", "--block-norm", "16"};
        Path cpu = quantize(dir.resolve("gptvq-cpu"), "cpu", gptvq);
        Path gpu = quantize(dir.resolve("gptvq-opencl"), "opencl", gptvq);
        double pCpu = ppl(cpu, "cpu").path("ppl").asDouble();
        double pGpuQuantized = ppl(gpu, "cpu").path("ppl").asDouble();
        assertTrue(Math.abs(pGpuQuantized / pCpu - 1) < 1e-3, "quantized on opencl " + pGpuQuantized + " vs cpu " + pCpu);
        Path vptq = quantize(dir.resolve("vptq"), "cpu", "--method", "vptq", "--dim", "4", "--centroids", "64",
                "--residual-centroids", "16", "--outlier-percent", "2", "--outlier-centroids", "16", "--perm", "--norm");
        for (Path m : new Path[]{cpu, vptq}) {
            JsonNode onCpu = ppl(m, "cpu");
            JsonNode onGpu = ppl(m, "opencl");
            double a = onCpu.path("ppl").asDouble();
            double b = onGpu.path("ppl").asDouble();
            assertTrue(a > 1 && Math.abs(b / a - 1) < 1e-3, m + ": opencl " + b + " vs cpu " + a);
            assertEquals(onCpu.path("n_predictions").asLong(), onGpu.path("n_predictions").asLong());
            assertEquals(35, onGpu.path("packed_layers_on_device").asInt(), onGpu.toString());
            assertTrue(onGpu.path("device_weight_bytes").asLong() > 0, onGpu.toString());
            assertTrue(onGpu.path("device").asText().startsWith("opencl:0"), onGpu.toString());
            assertEquals(0, onCpu.path("packed_layers_on_device").asInt());
            assertEveryOperation(onGpu, "device");
            assertEveryOperation(onCpu, "host");
        }
    }

    /** Every operation of the forward (issue 17) ran where the JSON says: embedding to nll. */
    static void assertEveryOperation(JsonNode j, String where) {
        JsonNode ops = j.path("operations");
        assertTrue(ops.size() >= 10, j.toString());
        ops.fields().forEachRemaining(e -> assertEquals(where, e.getValue().asText(), e.getKey() + " in " + ops));
    }

    /** generate --device opencl: the whole forward and the KV cache on the device, tokens/s and peak device memory. */
    @Test
    void generateRunsEveryOperationOnTheDevice(@TempDir Path dir) throws java.io.IOException {
        Path m = quantize(dir.resolve("kmeans"), "cpu", "--method", "kmeans", "--dim", "2", "--centroids", "16");
        CliEndToEndTest.Run r = CliEndToEndTest.vq("generate", "--model", m.toString(), "--prompt", "Once upon a time",
                "--max-tokens", "24", "--temperature", "0", "--device", "opencl", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = r.json();
        assertTrue(j.path("tokens").size() > 0 && j.path("tokens_per_second").asDouble() > 0, j.toString());
        assertTrue(j.path("peak_device_bytes").asLong() > j.path("device_weight_bytes").asLong(), j.toString());
        assertEveryOperation(j, "device");
        assertTrue(j.path("operations").has("attention") && j.path("operations").has("kv_cache"), j.toString());
    }

    /**
     * The dense baseline on the same device: the packed model's weights dequantized and uploaded
     * as fp32 (the same weights: perplexity within 1e-4, only the order of the sums differs) and
     * as fp16 (rounded weights: within 1 %), with their weight bytes and peak device memory.
     */
    @Test
    void denseBaselinesBesideThePackedModel(@TempDir Path dir) throws java.io.IOException {
        needOpenCl();
        Path m = quantize(dir.resolve("kmeans"), "cpu", "--method", "kmeans", "--dim", "2", "--centroids", "16");
        long weights = 5L * (64 * 64 * 2 + 32 * 64 * 2 + 172 * 64 * 3);
        double packedPpl = Double.NaN;
        for (String p : new String[]{"fp32", "fp16"}) {
            CliEndToEndTest.Run r = CliEndToEndTest.vq("eval", "ppl", "--model", m.toString(), "--text",
                    SharedData.file("tinystories/tinystories_val.txt").toString(), "--limit-bytes", "12000", "--ctx",
                    "256", "--device", "opencl", "--dense-baseline", p, "--json");
            assertEquals(0, r.code(), r.err());
            JsonNode j = r.json();
            packedPpl = j.path("ppl").asDouble();
            JsonNode b = j.path("dense_baseline");
            assertEquals(p, b.path("precision").asText());
            assertEquals(35, b.path("layers_on_device").asInt());
            long packedBytes = j.path("device_weight_bytes").asLong();
            long denseBytes = b.path("device_weight_bytes").asLong();
            long perWeight = p.equals("fp32") ? 4 : 2;
            assertTrue(denseBytes >= perWeight * weights && denseBytes < perWeight * weights + 35 * 256,
                    p + ": " + denseBytes + " bytes for " + weights + " weights");
            assertTrue(packedBytes < denseBytes / 4, "packed " + packedBytes + " vs dense " + denseBytes);
            assertTrue(j.path("peak_device_bytes").asLong() > packedBytes, j.toString());
            assertTrue(b.path("peak_device_bytes").asLong() > denseBytes, b.toString());
            assertTrue(b.path("tokens_per_second").asDouble() > 0);
            double rel = Math.abs(b.path("ppl").asDouble() / packedPpl - 1);
            assertTrue(rel < (p.equals("fp32") ? 1e-4 : 1e-2), p + " baseline " + b.path("ppl") + " vs packed " + packedPpl);
            assertEveryOperation(j, "device");
            assertEveryOperation(b, "device"); // the baseline runs through the same device forward
        }
        assertEquals(ppl(m, "cpu").path("ppl").asDouble(), packedPpl, packedPpl * 1e-3);
        CliEndToEndTest.Run r = CliEndToEndTest.vq("eval", "ppl", "--model", m.toString(), "--text",
                SharedData.file("tinystories/tinystories_val.txt").toString(), "--dense-baseline", "fp16");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("vq: --dense-baseline: needs a GPU --device"), r.err());
    }
}
