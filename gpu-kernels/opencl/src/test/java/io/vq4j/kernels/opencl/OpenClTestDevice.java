package io.vq4j.kernels.opencl;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The OpenCL tests' device: the first one (PoCL in CI). Without an OpenCL runtime a test skips,
 * saying why, unless VQ_REQUIRE_OPENCL=1 (as .ci/run sets it), when it fails.
 */
final class OpenClTestDevice {
    private OpenClTestDevice() {
    }

    /** Skips (or fails, when required) without an OpenCL device. */
    static void require() {
        if (OpenCl.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
                fail("VQ_REQUIRE_OPENCL=1 but " + OpenCl.unavailableReason());
            }
            assumeTrue(false, "no OpenCL device: " + OpenCl.unavailableReason());
        }
    }

    /** The first device's backend. */
    static OpenClBackend open() {
        require();
        return new OpenClBackend(0);
    }

    /** The first device's backend, skipping when it has no fp64 (then the backend runs the CPU's code). */
    static OpenClBackend openWithFp64() {
        OpenClBackend b = open();
        if (!b.info().fp64()) {
            b.close();
            assumeTrue(false, "the device has no fp64 (then the CPU's code runs)");
        }
        return b;
    }
}
