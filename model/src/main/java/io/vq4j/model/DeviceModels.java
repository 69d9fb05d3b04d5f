package io.vq4j.model;

import io.vq4j.kernels.Backend;
import io.vq4j.kernels.PackedWeights;
import io.vq4j.kernels.packed.PackedMatrix;

import java.util.ArrayList;
import java.util.List;

/**
 * Models whose layers live on a device. {@link #dense}: the same model with its decoder
 * blocks' linear layers (and a packed lm_head) uploaded as plain fp32 or fp16 weights and run
 * by the same dequant-matmul kernel as the packed layers, the dense baseline that packed
 * evaluation on a device is compared with. A packed layer is first dequantized (by the
 * backend that holds it, bit-identical to the CPU), so the fp32 baseline computes the very
 * same weights.
 */
public final class DeviceModels {
    private DeviceModels() {
    }

    /** A copy of the checkpoint whose block linears live on {@code on} as dense weights. */
    public static LlamaCheckpoint dense(LlamaCheckpoint c, Backend on, boolean half) {
        LlamaWeights w = c.weights();
        List<LayerWeights> layers = new ArrayList<>();
        for (LayerWeights l : w.layers()) {
            layers.add(new LayerWeights(l.attnNorm(), dense(l.wq(), on, half), dense(l.wk(), on, half),
                    dense(l.wv(), on, half), dense(l.wo(), on, half), l.ffnNorm(), dense(l.w1(), on, half),
                    dense(l.w2(), on, half), dense(l.w3(), on, half)));
        }
        Linear head = w.lmHead() instanceof PackedLinear ? dense(w.lmHead(), on, half) : w.lmHead();
        return new LlamaCheckpoint(c.config(), new LlamaWeights(w.tokenEmbedding(), layers, w.finalNorm(), head),
                c.source() + " (dense " + (half ? "fp16" : "fp32") + " on " + on.name() + ")");
    }

    private static Linear dense(Linear l, Backend on, boolean half) {
        float[] weights;
        float[] bias;
        if (l instanceof PackedLinear p) {
            PackedWeights pw = p.weights();
            weights = new float[pw.matrix().rows() * pw.matrix().cols()];
            p.backend().dequant(pw, weights);
            bias = p.bias();
        } else if (l instanceof DenseLinear d) {
            weights = d.weight();
            bias = d.bias();
        } else {
            throw new IllegalArgumentException("cannot upload a " + l.getClass().getSimpleName() + " densely");
        }
        PackedMatrix m = PackedMatrix.dense(weights, l.outFeatures(), l.inFeatures(), half);
        return new PackedLinear(on, on.upload(m), bias);
    }

    /** Every packed layer of a checkpoint (blocks, then lm_head). */
    public static List<PackedLinear> packedLayers(LlamaCheckpoint c) {
        List<PackedLinear> out = new ArrayList<>();
        for (LayerWeights l : c.weights().layers()) {
            for (Linear x : new Linear[]{l.wq(), l.wk(), l.wv(), l.wo(), l.w1(), l.w2(), l.w3()}) {
                if (x instanceof PackedLinear p) {
                    out.add(p);
                }
            }
        }
        if (c.weights().lmHead() instanceof PackedLinear p) {
            out.add(p);
        }
        return out;
    }

    /** Releases the device copies of every packed layer of a checkpoint. */
    public static void release(LlamaCheckpoint c) {
        packedLayers(c).forEach(p -> p.weights().close());
    }
}
