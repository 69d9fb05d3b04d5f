package io.vq4j.quant.calib;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.ForwardOps;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.cpu.HostForwardOps;
import io.vq4j.kernels.opencl.OpenCl;
import io.vq4j.kernels.opencl.OpenClBackend;
import io.vq4j.model.ActivationHook;
import io.vq4j.model.DecoderBlock;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.LinearGroup;
import io.vq4j.model.Llama2cCheckpoint;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.ResidentBlock;
import io.vq4j.testing.SharedData;
import io.vq4j.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The calibration forward on a backend's resident matrices ({@link ResidentBlock}) against the
 * host's {@link DecoderBlock} on stories260K's blocks, with a hook that records every group's
 * input and swaps the group's weights (as calibration does) before the rest of the block runs:
 * on the CPU backend every input and the block's output are the host's bits (so the packed models
 * are the same bytes); on the first OpenCL device (PoCL in CI) with its own forward ops, within
 * 1e-5 of the largest magnitude (the forward ops' bounds over one block; measured values printed).
 */
class ResidentBlockTest {
    /** Records each group's inputs (copies) and scales the group's weights by 1 − 2⁻⁶ (a stand-in quantizer). */
    private static final class Recorder implements ActivationHook {
        final List<float[]> inputs = new ArrayList<>();

        @Override
        public void input(LinearGroup group, int sequence, float[] x, int rows) {
            inputs.add(x.clone()); // rows × the group's width: the buffers hold exactly that
        }

        @Override
        public LayerWeights weights(LinearGroup group, LayerWeights lw) {
            for (String name : group.linears()) {
                DenseLinear d = (DenseLinear) lw.linear(name);
                float[] w = d.weight();
                for (int i = 0; i < w.length; i++) {
                    w[i] *= 1 - 0x1p-6f;
                }
                lw = lw.with(name, new DenseLinear(w, d.bias(), d.outFeatures(), d.inFeatures()));
            }
            return lw;
        }
    }

    private record Run(List<float[]> inputs, float[][] out) {
    }

    private static float[][] stream(LlamaCheckpoint c, int sequences, int len) throws Exception {
        String s = Files.readString(SharedData.tinyStoriesVal()).substring(0, 8000);
        int[] ids = Tokenizers.forModel(SharedData.stories260K(), SharedData.tok512()).encode(s, true);
        int dim = c.config().dim();
        float[][] x = new float[sequences][len * dim];
        for (int q = 0; q < sequences; q++) {
            for (int t = 0; t < len; t++) {
                System.arraycopy(c.weights().tokenEmbedding(), ids[q * len + t] * dim, x[q], t * dim, dim);
            }
        }
        return x;
    }

    private static Run host(LlamaCheckpoint c, int block, float[][] x, int len) {
        Recorder r = new Recorder();
        new DecoderBlock(c.config()).forward(c.weights().layers().get(block), x, len, r);
        return new Run(r.inputs, x);
    }

    private static Run resident(LlamaCheckpoint c, int block, float[][] x, int len, Backend backend, ForwardOps ops) {
        return resident(c, block, x, len, backend, ops, ResidentBlock.Hidden.AUTO);
    }

    private static Run resident(LlamaCheckpoint c, int block, float[][] x, int len, Backend backend, ForwardOps ops,
                                ResidentBlock.Hidden hidden) {
        Recorder r = new Recorder();
        try (ResidentBlock rb = new ResidentBlock(c.config(), backend, ops, len, hidden)) {
            rb.forward(c.weights().layers().get(block), x, r);
        }
        return new Run(r.inputs, x);
    }

    private static float[][] copy(float[][] x) {
        float[][] y = new float[x.length][];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i].clone();
        }
        return y;
    }

    @Test
    void cpuBackendGivesTheHostForwardsBits() throws Exception {
        LlamaCheckpoint c = Llama2cCheckpoint.read(SharedData.stories260K());
        int len = 100;
        Backend cpu = new CpuBackend();
        ForwardOps ops = ResidentBlock.opsFor(cpu);
        assertInstanceOf(HostForwardOps.class, ops, "auto: the CPU backend's reference ops");
        assertTrue(!ResidentBlock.keepsHidden(c.config(), 3, len) && ResidentBlock.keepsHidden(c.config(), 1, 2 * 64),
                "auto recomputes the MLP's hidden activations at 3 × 100 tokens of dim 64, keeps them at 128");
        for (int b = 0; b < c.config().nLayers(); b += 2) {
            // kept from down's pass or computed again for the last one: the same bits either way
            ResidentBlock.Hidden hidden = ResidentBlock.Hidden.values()[b / 2 % 3];
            float[][] x = stream(c, 3, len);
            Run want = host(c, b, copy(x), len);
            Run got = resident(c, b, copy(x), len, cpu, ops, hidden);
            assertEquals(4 * 3, want.inputs().size());
            assertEquals(want.inputs().size(), got.inputs().size());
            for (int i = 0; i < want.inputs().size(); i++) {
                assertArrayEquals(want.inputs().get(i), got.inputs().get(i), "block " + b + ", input " + i);
            }
            for (int q = 0; q < x.length; q++) {
                assertArrayEquals(want.out()[q], got.out()[q], "block " + b + " (" + hidden + "), output of sequence " + q);
                assertTrue(!Arrays.equals(x[q], got.out()[q]), "the block changed the stream");
            }
        }
    }

    @Test
    void openClForwardOpsAgreeWithinTheirBounds() throws Exception {
        if (OpenCl.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
                fail("VQ_REQUIRE_OPENCL=1 but " + OpenCl.unavailableReason());
            }
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "no OpenCL device: " + OpenCl.unavailableReason());
        }
        LlamaCheckpoint c = Llama2cCheckpoint.read(SharedData.stories260K());
        LlamaConfig cfg = c.config();
        int len = 100;
        try (Backend cl = new OpenClBackend(0)) {
            String old = System.getProperty(ResidentBlock.PROPERTY);
            try {
                System.clearProperty(ResidentBlock.PROPERTY);
                assertNull(ResidentBlock.opsFor(cl), "auto on a CPU-type device: the host forward");
                System.setProperty(ResidentBlock.PROPERTY, "backend");
                assertNotNull(ResidentBlock.opsFor(cl));
                System.setProperty(ResidentBlock.PROPERTY, "host");
                assertNull(ResidentBlock.opsFor(new CpuBackend()));
                System.setProperty(ResidentBlock.PROPERTY, "gpu");
                assertThrows(IllegalArgumentException.class, () -> ResidentBlock.opsFor(cl));
            } finally {
                if (old == null) {
                    System.clearProperty(ResidentBlock.PROPERTY);
                } else {
                    System.setProperty(ResidentBlock.PROPERTY, old);
                }
            }
            double worst = 0;
            for (int b = 0; b < cfg.nLayers(); b++) {
                float[][] x = stream(c, 2, len);
                Run want = host(c, b, copy(x), len);
                Run got = resident(c, b, copy(x), len, cl, cl.forwardOps());
                assertEquals(want.inputs().size(), got.inputs().size());
                for (int i = 0; i < want.inputs().size(); i++) {
                    worst = Math.max(worst, check(want.inputs().get(i), got.inputs().get(i), "block " + b + " input " + i));
                }
                for (int q = 0; q < x.length; q++) {
                    worst = Math.max(worst, check(want.out()[q], got.out()[q], "block " + b + " output " + q));
                }
            }
            System.out.printf("resident block forward on OpenCL vs host: worst %.2e of max |x|%n", worst);
        }
    }

    private static double check(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        double err = 0, mag = 1e-30;
        for (int i = 0; i < want.length; i++) {
            assertTrue(Float.isFinite(got[i]), what + ": not finite at " + i);
            err = Math.max(err, Math.abs(want[i] - got[i]));
            mag = Math.max(mag, Math.abs(want[i]));
        }
        double rel = err / mag;
        assertTrue(rel < 1e-5, what + ": " + rel + " of max |x|");
        return rel;
    }
}
