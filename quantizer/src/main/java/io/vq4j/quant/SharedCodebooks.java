package io.vq4j.quant;

import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.Backend;
import io.vq4j.model.ActivationHook;
import io.vq4j.model.DecoderBlock;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.LinearGroup;
import io.vq4j.model.LlamaConfig;
import io.vq4j.pack.Codebooks;
import io.vq4j.pack.PackedLayers;
import io.vq4j.quant.core.KMeans;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.LayerProblem.SharedCodebook;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.quant.method.VectorOptions;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Codebooks shared between layers (--share-codebooks kind|all): one k-means fit on the pooled
 * sub-vectors of every layer that shares the codebook, before the true-sequential pass; each
 * layer then uses it as given (kmeans: nearest centroid; gptvq/vptq: their error-feedback loop
 * with the codebook fixed — no per-layer codebook update). A small model's matrices hold too few
 * vectors for a large codebook per layer (a 4096-entry codebook for the 1,024 4-d vectors of a
 * 64×64 matrix), and its codebook bytes would dwarf the indices; sharing is the fair test of
 * large-k VQ there.
 *
 * <p>The pooled vectors run along the method's axis (kmeans/gptvq: d consecutive columns of a
 * row; vptq: d consecutive rows of a column). A method without a Hessian (kmeans) fits plain
 * k-means (k-means++ or Mahalanobis seeding, as for one layer). The others (gptvq, vptq) weight
 * every entry by the diagonal of its layer's Hessian, taken from the <em>unquantized</em> model's activations on the
 * calibration sequences and divided by its mean over the layer, so that every layer counts by
 * its weights' importance relative to its own inputs and not by the scale of those inputs.
 * (Per-layer GPTVQ weights by 1/[H⁻¹]_jj; the diagonal of H is what VPTQ's Hessian k-means uses,
 * and it needs no inverse per layer.) When the pool passes {@link #MAX_POOL} vectors, every
 * s-th vector of each layer is taken (s the same for all), so the fit's cost stays bounded on
 * large models.
 */
public final class SharedCodebooks {
    /** Most vectors one shared fit sees; beyond it, a uniform stride over every layer. */
    public static final int MAX_POOL = 1 << 20;

    private SharedCodebooks() {
    }

    /** The sharing key of a linear layer (HF name, e.g. mlp.down_proj): itself for "kind", "all" for "all". */
    public static String key(QuantSpec spec, String linear) {
        return spec.shareCodebooks().equals("all") ? "all" : linear;
    }

    /** The tensor that stores a key's codebook in the packed directory. */
    public static String tensor(String key) {
        return PackedLayers.SHARED_PREFIX + key + ".codebook";
    }

    /**
     * Checks that every shared codebook has at least k vectors to be fitted on; an
     * IllegalArgumentException naming the first key that has fewer.
     *
     * @param shapes HF linear name → {rows, cols}, as in one block
     */
    public static void checkPools(QuantSpec spec, Map<String, int[]> shapes, int blocks) {
        Map<String, Long> vectors = new LinkedHashMap<>();
        VectorOptions v = spec.vector();
        for (var e : shapes.entrySet()) {
            long n = (long) e.getValue()[0] * e.getValue()[1] / v.dim() * blocks;
            vectors.merge(key(spec, e.getKey()), n, Long::sum);
        }
        for (var e : vectors.entrySet()) {
            if (v.centroids() > e.getValue()) {
                throw new IllegalArgumentException("--centroids " + v.centroids() + " is more than the "
                        + e.getValue() + " vectors of every " + (e.getKey().equals("all") ? "layer" : e.getKey()
                        + " layer") + " together (--share-codebooks " + spec.shareCodebooks() + ")");
            }
        }
    }

    /**
     * Fits the shared codebooks, in the order the layers are quantized.
     *
     * @param x the calibration sequences' embeddings (n arrays of len × dim); not modified
     */
    public static Map<String, SharedCodebook> fit(SourceModel source, QuantSpec spec, float[][] x, int len,
                                                  Backend backend, long seed) {
        LlamaConfig c = source.config();
        Method<?> method = spec.options().method();
        VectorOptions vo = spec.vector();
        boolean weighted = method.needsHessian();
        boolean alongRows = method.vectorAxis() == Axis.OUT;
        int d = vo.dim();
        int blocks = c.nLayers();
        // the diagonal of each layer's Hessian on the unquantized model, normalised to mean 1
        Map<String, double[]> diag = new LinkedHashMap<>();
        if (weighted) {
            DecoderBlock block = new DecoderBlock(c);
            float[][] h = new float[x.length][];
            for (int s = 0; s < x.length; s++) {
                h[s] = x[s].clone();
            }
            for (int b = 0; b < blocks; b++) {
                String prefix = SourceModel.prefix(b);
                block.forward(source.block(b), h, len, new ActivationHook() {
                    double[] sq;

                    @Override
                    public void input(LinearGroup group, int sequence, float[] in, int rows) {
                        int cols = in.length / len;
                        if (sq == null) {
                            sq = new double[cols];
                        }
                        for (int t = 0; t < len; t++) {
                            for (int j = 0; j < cols; j++) {
                                double v = in[t * cols + j];
                                sq[j] += v * v;
                            }
                        }
                    }

                    @Override
                    public LayerWeights weights(LinearGroup group, LayerWeights lw) {
                        double mean = 0;
                        for (double v : sq) {
                            mean += v;
                        }
                        mean /= sq.length;
                        for (int j = 0; j < sq.length; j++) {
                            sq[j] = mean > 0 ? sq[j] / mean : 1;
                        }
                        for (String l : group.linears()) {
                            diag.put(prefix + l, sq);
                        }
                        sq = null;
                        return lw;
                    }
                });
            }
        }
        // the pools, key by key in first-use order
        Map<String, List<String>> members = new LinkedHashMap<>();
        for (LinearGroup group : LinearGroup.values()) {
            for (String l : group.linears()) {
                members.computeIfAbsent(key(spec, l), q -> new ArrayList<>()).add(l);
            }
        }
        Map<String, SharedCodebook> out = new LinkedHashMap<>();
        for (var e : members.entrySet()) {
            long total = 0;
            for (String l : e.getValue()) {
                DenseLinear dl = (DenseLinear) source.block(0).linear(l);
                total += (long) dl.outFeatures() * dl.inFeatures() / d * blocks;
            }
            int stride = (int) Math.max(1, (total + MAX_POOL - 1) / MAX_POOL);
            int n = 0;
            for (String l : e.getValue()) {
                DenseLinear dl = (DenseLinear) source.block(0).linear(l);
                n += blocks * (int) ((dl.outFeatures() * (long) dl.inFeatures() / d + stride - 1) / stride);
            }
            float[] v = new float[n * d];
            float[] wt = weighted ? new float[n * d] : null;
            int at = 0;
            for (int b = 0; b < blocks; b++) {
                LayerWeights lw = source.block(b);
                for (String l : e.getValue()) {
                    DenseLinear dl = (DenseLinear) lw.linear(l);
                    int rows = dl.outFeatures();
                    int cols = dl.inFeatures();
                    float[] w = dl.weight();
                    double[] dg = weighted ? diag.get(SourceModel.prefix(b) + l) : null;
                    int count = rows * cols / d;
                    for (int i = 0; i < count; i += stride) {
                        for (int t = 0; t < d; t++) {
                            // vector i: IN = row i / (cols/d), columns (i % (cols/d))·d + t;
                            //           OUT = column i / (rows/d), rows (i % (rows/d))·d + t
                            int r;
                            int col;
                            if (alongRows) {
                                col = i / (rows / d);
                                r = (i % (rows / d)) * d + t;
                            } else {
                                r = i / (cols / d);
                                col = (i % (cols / d)) * d + t;
                            }
                            v[at * d + t] = w[r * cols + col];
                            if (wt != null) {
                                wt[at * d + t] = (float) dg[col];
                            }
                        }
                        at++;
                    }
                }
            }
            int k = vo.centroids();
            String name = tensor(e.getKey());
            long s = LayerProblem.layerSeed(seed, name);
            float[] init = vo.init().equals("mahalanobis") ? KMeans.seedMahalanobis(v, n, d, k)
                    : KMeans.seedPlusPlus(v, wt, n, d, k, new SplittableRandom(s));
            float[] book = KMeans.fitFrom(backend, v, wt, n, d, k, vo.iters(), vo.tol(), init).codebook();
            Codebooks.round(book, 1, k, d, CodebookFormat.F16);
            out.put(e.getKey(), new SharedCodebook(name, k, d, book));
        }
        return out;
    }
}
