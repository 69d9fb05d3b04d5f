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
            for (String k : new String[]{"assign", "assign-weighted", "accumulate", "hessian-gemm"}) {
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
}
