package io.vq4j.quant.method;

import io.vq4j.core.Parallel;
import io.vq4j.kernels.Backend;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What a {@link LayerQuantizer} gets for one linear layer.
 *
 * @param name    the layer's tensor name without ".weight", e.g. model.layers.0.self_attn.q_proj
 * @param weight  W, rows (out features) × cols (in features), row-major; the quantizer may not modify it
 * @param hessian H = 2/n Σ x xᵀ over the layer's calibration inputs, cols × cols, already
 *                dampened (spec.percdamp()); null for methods that do not need it
 * @param seed    the run's seed mixed with the layer's name (see {@link #layerSeed})
 * @param shared  the codebook this layer must use (spec.sharesCodebooks()), already rounded to
 *                fp16; null when the layer fits its own
 * @param hessianFloat the same H rounded to float, as the calibration holds it for the error report
 *                (Calibration), or null: a method that multiplies by a float H (gptvq's codebook
 *                update) uses it instead of making its own copy (cols² floats, 0.45 GiB at
 *                Llama-2-7B's down_proj); the quantizer may not modify it
 */
public record LayerProblem(String name, float[] weight, int rows, int cols, double[] hessian, QuantSpec spec,
                           Backend backend, long seed, SharedCodebook shared, float[] hessianFloat) {

    /** A codebook fitted once for several layers: k × d values and the tensor that stores it. */
    public record SharedCodebook(String tensor, int k, int d, float[] book) {
        public SharedCodebook {
            if (book.length != k * d) {
                throw new IllegalArgumentException("shared codebook has " + book.length + " values for " + k + "x" + d);
            }
        }
    }

    public LayerProblem(String name, float[] weight, int rows, int cols, double[] hessian, QuantSpec spec,
                        Backend backend, long seed) {
        this(name, weight, rows, cols, hessian, spec, backend, seed, null, null);
    }

    public LayerProblem(String name, float[] weight, int rows, int cols, double[] hessian, QuantSpec spec,
                        Backend backend, long seed, SharedCodebook shared) {
        this(name, weight, rows, cols, hessian, spec, backend, seed, shared, null);
    }

    public LayerProblem {
        if (spec.sharesCodebooks() != (shared != null)) {
            throw new IllegalArgumentException(name + ": --share-codebooks " + spec.shareCodebooks()
                    + (shared == null ? " but no shared codebook was given" : " but a shared codebook was given"));
        }
        if (shared != null && (shared.k() != spec.vector().centroids() || shared.d() != spec.vector().dim())) {
            throw new IllegalArgumentException(name + ": shared codebook is " + shared.k() + "x" + shared.d()
                    + ", the spec needs " + spec.vector().centroids() + "x" + spec.vector().dim());
        }
        if (weight.length != (long) rows * cols) {
            throw new IllegalArgumentException("weight has " + weight.length + " floats for " + rows + "x" + cols);
        }
        if (hessian != null && hessian.length != (long) cols * cols) {
            throw new IllegalArgumentException("hessian has " + hessian.length + " entries for " + cols + " columns");
        }
        if (hessianFloat != null && (hessian == null || hessianFloat.length != hessian.length)) {
            throw new IllegalArgumentException("hessianFloat has " + hessianFloat.length + " entries, hessian "
                    + (hessian == null ? "none" : hessian.length));
        }
    }

    /** The same problem with another seed. */
    public LayerProblem withSeed(long seed) {
        return new LayerProblem(name, weight, rows, cols, hessian, spec, backend, seed, shared, hessianFloat);
    }

    /**
     * H as floats: {@link #hessianFloat} when the caller gave it, else a new rounding of
     * {@link #hessian} (which must be there).
     */
    public float[] hessianAsFloat() {
        if (hessianFloat != null) {
            return hessianFloat;
        }
        float[] hf = new float[hessian.length];
        for (int i = 0; i < hf.length; i++) {
            hf[i] = (float) hessian[i];
        }
        return hf;
    }

    /** Whether the n × n matrix {@code h} equals its transpose bit for bit (then a gemm may take it as Hᵀ). */
    public static boolean symmetric(float[] h, int n) {
        int tile = 64;
        int tiles = (n + tile - 1) / tile;
        AtomicBoolean asymmetric = new AtomicBoolean();
        Parallel.forEach(0, tiles, t -> { // rows [i0, i1) against their transposes, tile by tile
            int i0 = t * tile, i1 = Math.min(n, i0 + tile);
            for (int j0 = 0; j0 < i1 && !asymmetric.get(); j0 += tile) {
                int j1 = Math.min(i1, j0 + tile);
                for (int i = i0; i < i1; i++) {
                    for (int j = j0, e = Math.min(j1, i); j < e; j++) {
                        if (Float.floatToRawIntBits(h[i * n + j]) != Float.floatToRawIntBits(h[j * n + i])) {
                            asymmetric.set(true);
                            return;
                        }
                    }
                }
            }
        });
        return !asymmetric.get();
    }

    /** A per-layer seed: the run's seed and the layer's name, mixed (SplitMix64 finaliser). */
    public static long layerSeed(long seed, String name) {
        long z = seed ^ (name.hashCode() * 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
