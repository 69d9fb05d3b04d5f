package io.vq4j.quant.method;

import io.vq4j.kernels.Backend;

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
 */
public record LayerProblem(String name, float[] weight, int rows, int cols, double[] hessian, QuantSpec spec,
                           Backend backend, long seed, SharedCodebook shared) {

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
        this(name, weight, rows, cols, hessian, spec, backend, seed, null);
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
    }

    /** The same problem with another seed. */
    public LayerProblem withSeed(long seed) {
        return new LayerProblem(name, weight, rows, cols, hessian, spec, backend, seed, shared);
    }

    /** A per-layer seed: the run's seed and the layer's name, mixed (SplitMix64 finaliser). */
    public static long layerSeed(long seed, String name) {
        long z = seed ^ (name.hashCode() * 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
