package io.vq4j.kernels.select;

import io.vq4j.core.InputException;
import io.vq4j.kernels.BackendProvider;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --device parsing in the default build: the opencl and cuda providers, no optional backend. */
class BackendsTest {
    @Test
    void theDefaultBuildHasTheOpenClAndCudaProvidersOnly() {
        assertEquals(List.of("opencl", "cuda"), Backends.providers().stream().map(BackendProvider::prefix).toList());
        assertTrue(Backends.list().stream().noneMatch(l -> l.device().startsWith("tornado")), Backends.list().toString());
    }

    @Test
    void tornadoWithoutItsModuleSaysHowToGetIt() {
        InputException e = assertThrows(InputException.class, () -> Backends.open("tornado:0:0", m -> {
        }));
        assertTrue(e.getMessage().startsWith("--device tornado:0:0: the TornadoVM backend is not loaded"), e.getMessage());
        assertTrue(e.getMessage().contains("scripts/vq --tornado"), e.getMessage());
    }

    @Test
    void anUnknownDeviceListsTheKnownOnes() {
        InputException e = assertThrows(InputException.class, () -> Backends.open("tpu", m -> {
        }));
        assertEquals("--device: unknown device 'tpu' (cpu, cuda[:i], opencl[:i], auto; see vq devices)", e.getMessage());
    }
}
