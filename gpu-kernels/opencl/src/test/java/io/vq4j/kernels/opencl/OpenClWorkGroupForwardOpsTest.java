package io.vq4j.kernels.opencl;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOps;

/**
 * The same parity test with the work-group-per-row RMSNorm (fw_rmsnorm), which a GPU device runs
 * and a CPU device (PoCL) does not choose: both variants are checked on PoCL.
 */
class OpenClWorkGroupForwardOpsTest extends OpenClForwardOpsTest {
    @Override
    protected ForwardOps opsOf(Backend backend) {
        return ((OpenClBackend) backend).forwardOps(false);
    }
}
