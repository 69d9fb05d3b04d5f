package io.vq4j.kernels;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The device profiles of tornado-config/profiles, as built into the jar, and a user's own. */
class TuningTest {
    @AfterEach
    void clear() {
        System.clearProperty("vq.tuning.dir");
    }

    @Test
    void builtInProfilesMatchByVendorAndFallBackToTheDefault() {
        assertEquals("nvidia.properties",
                Tuning.forDevice("NVIDIA Corporation | NVIDIA H100 80GB HBM3 | GPU | NVIDIA CUDA", 1024, 49152).profile());
        assertEquals(128, Tuning.forDevice("NVIDIA Corporation | H100 | GPU | NVIDIA CUDA", 1024, 49152).assignGroup());
        assertEquals("amd.properties",
                Tuning.forDevice("Advanced Micro Devices, Inc. | gfx1100 | GPU | AMD Accelerated Parallel Processing",
                        1024, 65536).profile());
        assertEquals("pocl.properties",
                Tuning.forDevice("AuthenticAMD | pthread-znver3 | CPU | Portable Computing Language", 4096, 524288)
                        .profile());
        assertEquals("intel.properties",
                Tuning.forDevice("Intel(R) Corporation | Intel(R) UHD Graphics | GPU | Intel(R) OpenCL HD Graphics",
                        256, 65536).profile());
        Tuning d = Tuning.forDevice("Some Vendor | Some Accelerator | accelerator | Other", 256, 32768);
        assertEquals("default.properties", d.profile());
        assertEquals(256, d.tile());
    }

    @Test
    void sizesBeyondTheDevicesLimitsAreRefused() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Tuning.forDevice("NVIDIA | tiny | GPU | x", 64, 49152));
        assertTrue(e.getMessage().contains("nvidia.properties: work-group size 128 exceeds the device's maximum 64"),
                e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> Tuning.forDevice("nobody | x | GPU | y", 256, 8192));
        assertTrue(e.getMessage().contains("tile 256 needs 16384 bytes of local memory; the device has 8192"),
                e.getMessage());
    }

    @Test
    void aUsersDirectoryComesFirstAndBadValuesSayWhere(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("a-mine.properties"), "match=h100\ntile=128\nassign.group=256\n"
                + "accumulate.group=32\npacked.group=256\n");
        System.setProperty("vq.tuning.dir", dir.toString());
        Tuning t = Tuning.forDevice("NVIDIA Corporation | NVIDIA H100 | GPU | NVIDIA CUDA", 1024, 49152);
        assertEquals(dir.resolve("a-mine.properties").toString(), t.profile());
        assertEquals(new Tuning(t.profile(), 128, 256, 32, 256), t);
        // a device it does not match still gets the built-in profile
        assertEquals("nvidia.properties", Tuning.forDevice("NVIDIA | A100 | GPU | x", 1024, 49152).profile());
        Files.writeString(dir.resolve("b-bad.properties"), "match=a100\ntile=0\nassign.group=64\n"
                + "accumulate.group=64\npacked.group=64\n");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Tuning.forDevice("NVIDIA | A100 | GPU | x", 1024, 49152));
        assertTrue(e.getMessage().endsWith("b-bad.properties: tile = '0' is not a whole number in 1..65536"),
                e.getMessage());
        Files.writeString(dir.resolve("b-bad.properties"), "match=[a100\ntile=1\n");
        e = assertThrows(IllegalStateException.class, () -> Tuning.forDevice("x", 1024, 49152));
        assertTrue(e.getMessage().contains("b-bad.properties: match is not a regular expression"), e.getMessage());
    }
}
