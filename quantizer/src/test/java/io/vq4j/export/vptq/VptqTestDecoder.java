package io.vq4j.export.vptq;

import io.vq4j.io.SafeTensorsFile;

/**
 * The tests' own VPTQ decoder, written from the format's semantics (VPTQ's torch dequant) and
 * sharing no code with {@link VptqLayerReader}: W (out × in, row-major) from a layer's tensors.
 * Main: W'[i·v + t, g·gs + j] = C[g][idx][t] (+ R[g][res][t]), with idx, res the low and high
 * bits of entry j of packed row (g, i); outlier columns come first; then W[:, perm[c]] = W'[:, c];
 * then W[:, c] = W[:, c] · weight_scale[c] + weight_bias[c].
 */
final class VptqTestDecoder {
    private VptqTestDecoder() {
    }

    static float[] decode(SafeTensorsFile f, String name, int rows, int cols) {
        long[] ish = f.info(name + ".indices").shape();
        int groups = (int) ish[0];
        int nVec = (int) ish[1];
        int words = (int) ish[2];
        int v = rows / nVec;
        float[] c = f.floats(name + ".centroids.weight");
        int k = c.length / groups / v;
        int b = Integer.numberOfTrailingZeros(k);
        float[] rc = f.contains(name + ".res_centroids.weight") ? f.floats(name + ".res_centroids.weight") : null;
        int kr = rc == null ? 0 : rc.length / groups / v;
        int br = rc == null ? 0 : Integer.numberOfTrailingZeros(kr);
        int os = f.contains(name + ".outlier_indices") ? (int) f.info(name + ".outlier_indices").shape()[2] : 0;
        int gs = (cols - os) / groups;
        int[] packed = f.ints(name + ".indices");
        float[] stored = new float[rows * cols];
        for (int g = 0; g < groups; g++) {
            for (int i = 0; i < nVec; i++) {
                for (int j = 0; j < gs; j++) {
                    long bitAt = (long) j * (b + br);
                    long val = 0;
                    for (int q = 0; q < b + br; q++) {
                        long bit = bitAt + q;
                        int word = packed[(g * nVec + i) * words + (int) (bit / 32)];
                        val |= (long) ((word >>> (bit % 32)) & 1) << q;
                    }
                    int idx = (int) (val & ((1L << b) - 1));
                    int res = (int) (val >>> b);
                    for (int t = 0; t < v; t++) {
                        float w = c[(g * k + idx) * v + t];
                        if (rc != null) {
                            w += rc[(g * kr + res) * v + t];
                        }
                        stored[(i * v + t) * cols + os + g * gs + j] = w;
                    }
                }
            }
        }
        if (os > 0) {
            float[] oc = f.floats(name + ".outlier_centroids.weight");
            int on = (int) f.info(name + ".outlier_indices").shape()[1];
            int ov = rows / on;
            int[] oi = f.ints(name + ".outlier_indices");
            for (int i = 0; i < on; i++) {
                for (int j = 0; j < os; j++) {
                    int idx = oi[i * os + j] & 0xFFFF;
                    for (int t = 0; t < ov; t++) {
                        stored[(i * ov + t) * cols + j] = oc[idx * ov + t];
                    }
                }
            }
        }
        float[] w = stored;
        if (f.contains(name + ".perm")) {
            int[] p = f.ints(name + ".perm");
            w = new float[rows * cols];
            for (int r = 0; r < rows; r++) {
                for (int s = 0; s < cols; s++) {
                    w[r * cols + (p[s] & 0xFFFF)] = stored[r * cols + s];
                }
            }
        }
        if (f.contains(name + ".weight_scale")) {
            float[] ws = f.floats(name + ".weight_scale");
            float[] wb = f.floats(name + ".weight_bias");
            for (int r = 0; r < rows; r++) {
                for (int s = 0; s < cols; s++) {
                    w[r * cols + s] = w[r * cols + s] * ws[s] + wb[s];
                }
            }
        }
        return w;
    }
}
