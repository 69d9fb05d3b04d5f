package io.vq4j.model;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.testing.SharedData;
import io.vq4j.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link DeviceForward} on the CPU backend's reference ops (no device needed) against the
 * model's host forward on stories260K: the same operations in the same order, so the logits of a
 * prefill and of decode steps after it agree to float rounding of the head (the device forward
 * runs every linear through dequantMatmul, the host's dense head through its own matmul), and the
 * per-token NLL matches the host's. Also: the CPU backend itself keeps the host forward.
 */
class DeviceForwardTest {
    static int[] text(int n) throws Exception {
        String s = Files.readString(SharedData.tinyStoriesVal()).substring(0, 4000);
        int[] ids = Tokenizers.forModel(SharedData.stories260K(), SharedData.tok512()).encode(s, true);
        return Arrays.copyOf(ids, n);
    }

    /** max |a − b| over max(1, max |a|): the forward's relative error. */
    static double relative(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double err = 0, mag = 1;
        for (int i = 0; i < a.length; i++) {
            err = Math.max(err, Math.abs(a[i] - b[i]));
            mag = Math.max(mag, Math.abs(a[i]));
        }
        return err / mag;
    }

    @Test
    void referenceOpsReproduceTheHostForward() throws Exception {
        LlamaCheckpoint c = Llama2cCheckpoint.read(SharedData.stories260K());
        LlamaModel host = LlamaModel.of(c);
        Backend cpu = new CpuBackend();
        assertSame(host, host.onDevice(cpu), "the CPU backend runs the host forward");
        int[] ids = text(90);
        KvCache cache = host.newCache(100);
        float[] want = host.forward(ids, 0, 80, cache, true);
        float[] wantStep = host.forward(ids, 80, 1, cache, false);
        try (DeviceForward f = new DeviceForward(c.config(), c.weights(), cpu, 100)) {
            float[] got = f.forward(ids, 0, 80, true);
            float[] gotStep = f.forward(ids, 80, 1, false);
            double e = relative(want, got);
            double es = relative(wantStep, gotStep);
            System.out.printf("reference ops vs host forward: prefill %.2e, decode %.2e%n", e, es);
            assertTrue(e < 1e-5 && es < 1e-5, e + " " + es);
            assertEquals(81, f.length());
            float[] nll = f.nll(ids, 0, 80);
            float[] hostNll = host.windowNll(ids, 0, 80, cache);
            assertEquals(79, nll.length);
            for (int t = 0; t < nll.length; t++) {
                assertEquals(hostNll[t], nll[t], 1e-4 * (1 + Math.abs(hostNll[t])), "nll " + t);
            }
            assertThrows(IllegalArgumentException.class, () -> f.forward(ids, 0, 90, true));
        }
    }
}
