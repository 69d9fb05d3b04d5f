package io.vq4j.pack;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.opencl.OpenCl;
import io.vq4j.kernels.opencl.OpenClBackend;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.model.DeviceModels;
import io.vq4j.model.KvCache;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.Linear;
import io.vq4j.model.Llama2cCheckpoint;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.LlamaWeights;
import io.vq4j.model.PackedLinear;
import io.vq4j.model.DenseLinear;
import io.vq4j.quant.Methods;
import io.vq4j.quant.QuantOptions;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.LayerQuantizer;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.testing.SharedData;
import io.vq4j.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The whole forward on the first OpenCL device (PoCL in CI; {@code LlamaModel.onDevice}: every
 * operation in vq.cl's kernels, the KV cache on the device) against the host forward of the same
 * weights on stories260K: the fp32 model, and the model with every linear (and the head) packed by
 * k-means (d = 2, k = 16). Bound: every logit of a 120-token prefill and of 8 decode steps after it
 * within 2e-5 · max(1, max |logit|) (the forward ops' stated bounds, compounded over 5 blocks: the
 * measured errors are printed), and a window's mean NLL within 2e-6 relative (measured on PoCL: 1.7e-6 and 8e-7 of the logits, NLL equal to 6 digits).
 */
class OpenClForwardTest {
    private static Backend cl;
    private static final Backend CPU = new CpuBackend();

    @BeforeAll
    static void open() {
        if (OpenCl.devices().isEmpty()) {
            if ("1".equals(System.getenv("VQ_REQUIRE_OPENCL"))) {
                fail("VQ_REQUIRE_OPENCL=1 but " + OpenCl.unavailableReason());
            }
            assumeTrue(false, "no OpenCL device: " + OpenCl.unavailableReason());
        }
        cl = new OpenClBackend(0);
    }

    @AfterAll
    static void close() {
        if (cl != null) {
            cl.close();
        }
    }

    private static int[] text(int n) throws Exception {
        String s = Files.readString(SharedData.tinyStoriesVal()).substring(0, 4000);
        return Arrays.copyOf(Tokenizers.forModel(SharedData.stories260K(), SharedData.tok512()).encode(s, true), n);
    }

    private static double relative(float[] want, float[] got) {
        assertEquals(want.length, got.length);
        double err = 0, mag = 1;
        for (int i = 0; i < want.length; i++) {
            err = Math.max(err, Math.abs(want[i] - got[i]));
            mag = Math.max(mag, Math.abs(want[i]));
        }
        return err / mag;
    }

    /** The checkpoint with every linear quantized by k-means, its packed layers on {@code on}. */
    private static LlamaCheckpoint packed(LlamaCheckpoint c, List<PackedMatrix> cache, Backend on) {
        QuantSpec spec = QuantOptions.build("kmeans", Map.of("--dim", 2, "--centroids", 16, "--iters", 5, "--tol", 0.0));
        LayerQuantizer q = Methods.forName(spec.method());
        int[] next = {0};
        Function<Linear, Linear> pack = l -> {
            if (next[0] == cache.size()) {
                DenseLinear d = (DenseLinear) l;
                q.validate(spec, d.outFeatures(), d.inFeatures());
                cache.add(q.quantize(new LayerProblem("t", d.weight(), d.outFeatures(), d.inFeatures(), null, spec,
                        CPU, 3)));
            }
            return new PackedLinear(on, on.upload(cache.get(next[0]++)), null);
        };
        List<LayerWeights> layers = new ArrayList<>();
        for (LayerWeights l : c.weights().layers()) {
            layers.add(new LayerWeights(l.attnNorm(), pack.apply(l.wq()), pack.apply(l.wk()), pack.apply(l.wv()),
                    pack.apply(l.wo()), l.ffnNorm(), pack.apply(l.w1()), pack.apply(l.w2()), pack.apply(l.w3())));
        }
        LlamaWeights w = c.weights();
        return new LlamaCheckpoint(c.config(), new LlamaWeights(w.tokenEmbedding(), layers, w.finalNorm(),
                pack.apply(w.lmHead())), c.source() + " (k-means on " + on.name() + ")");
    }

    private static void compare(String what, LlamaModel host, LlamaModel device) throws Exception {
        assertTrue(device.runsOnDevice() && !host.runsOnDevice());
        int[] ids = text(130);
        KvCache hc = host.newCache(130);
        double worst;
        try (KvCache dc = device.newCache(130)) {
            assertTrue(dc.onDevice());
            worst = relative(host.forward(ids, 0, 120, hc, true), device.forward(ids, 0, 120, dc, true));
            for (int t = 120; t < 128; t++) {
                worst = Math.max(worst, relative(host.forward(ids, t, 1, hc, false), device.forward(ids, t, 1, dc,
                        false)));
            }
            float[] hn = host.windowNll(ids, 0, 130, hc);
            float[] dn = device.windowNll(ids, 0, 130, dc);
            double hs = 0, ds = 0;
            for (int i = 0; i < hn.length; i++) {
                hs += hn[i];
                ds += dn[i];
            }
            System.out.printf("%s: logits within %.2e, mean NLL %.6f vs host %.6f%n", what, worst, ds / dn.length,
                    hs / hn.length);
            assertTrue(Math.abs(ds / hs - 1) < 2e-6, what + ": mean NLL " + ds + " vs " + hs);
        }
        assertTrue(worst < 2e-5, what + ": logits differ by " + worst + " of their magnitude");
    }

    @Test
    void fp32ForwardMatchesTheHost() throws Exception {
        LlamaCheckpoint c = Llama2cCheckpoint.read(SharedData.stories260K());
        // the host runs the same fp32 weights through the CPU's dequantMatmul, the device through its own
        LlamaCheckpoint hostDense = DeviceModels.dense(c, CPU, false);
        compare("fp32", LlamaModel.of(hostDense), LlamaModel.of(c).onDevice(cl));
    }

    @Test
    void packedForwardMatchesTheHost() throws Exception {
        LlamaCheckpoint c = Llama2cCheckpoint.read(SharedData.stories260K());
        List<PackedMatrix> layers = new ArrayList<>();
        LlamaCheckpoint onCpu = packed(c, layers, CPU);
        LlamaCheckpoint onCl = packed(c, layers, cl);
        compare("k-means packed", LlamaModel.of(onCpu), LlamaModel.of(onCl).onDevice(cl));
        DeviceModels.release(onCl);
    }
}
