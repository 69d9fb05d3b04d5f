package io.vq4j.quant.core;

import io.vq4j.core.Parallel;
import io.vq4j.kernels.Backend;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * (Weighted) k-means on the compute SPI: k-means++ seeding, then Lloyd iterations — assign
 * every vector to its nearest centroid under Σ_j w_ij (x_ij − c_j)² (E-step), then move each
 * centroid to the weighted mean of its members, per dimension (M-step). With per-dimension
 * weights this is the Hessian-weighted k-means of GPTVQ §3.1 and VPTQ. A centroid that loses
 * all members stays where it is. Deterministic: a seeded generator, fixed-order reductions.
 */
public final class KMeans {
    private KMeans() {
    }

    /**
     * @param codebook   k×d centroids
     * @param index      each vector's centroid
     * @param objective  Σ_i weighted squared distance to its centroid
     * @param iterations Lloyd iterations run
     */
    public record Result(float[] codebook, int[] index, double objective, int iterations) {
    }

    /**
     * @param weights per-dimension weights (n×d), or null for plain k-means
     * @param tol     stop when the objective improves by less than this fraction
     */
    public static Result fit(Backend backend, float[] vectors, float[] weights, int n, int d, int k, int maxIterations,
                             double tol, long seed) {
        if (k < 1 || k > n) {
            throw new IllegalArgumentException("k = " + k + " must be in 1.." + n + " (the number of vectors)");
        }
        return fitFrom(backend, vectors, weights, n, d, k, maxIterations, tol,
                seedPlusPlus(vectors, weights, n, d, k, new SplittableRandom(seed)));
    }

    /** Lloyd iterations from the given initial codebook (k×d, not modified). */
    public static Result fitFrom(Backend backend, float[] vectors, float[] weights, int n, int d, int k,
                                 int maxIterations, double tol, float[] initial) {
        if (k < 1 || k > n) {
            throw new IllegalArgumentException("k = " + k + " must be in 1.." + n + " (the number of vectors)");
        }
        float[] codebook = initial.clone();
        int[] index = new int[n];
        float[] dist = new float[n];
        double[] sums = new double[k * d];
        double[] weightSums = new double[k * d];
        backend.assignNearest(vectors, weights, n, d, codebook, k, index, dist);
        double objective = sum(dist);
        int it = 0;
        while (it < maxIterations) {
            it++;
            backend.accumulateCentroids(vectors, weights, n, d, index, k, sums, weightSums);
            for (int e = 0; e < k * d; e++) {
                if (weightSums[e] > 0) {
                    codebook[e] = (float) (sums[e] / weightSums[e]);
                }
            }
            backend.assignNearest(vectors, weights, n, d, codebook, k, index, dist);
            double next = sum(dist);
            boolean converged = objective - next <= tol * Math.max(objective, Double.MIN_NORMAL);
            objective = next;
            if (converged) {
                break;
            }
        }
        return new Result(codebook, index, objective, it);
    }

    private static double sum(float[] a) {
        double s = 0;
        for (float v : a) {
            s += v;
        }
        return s;
    }

    /** Vectors per seeding chunk: fixed, so the sums (and the picks) do not depend on the thread count. */
    static final int SEED_CHUNK = 1 << 14;

    /**
     * k-means++ (Arthur and Vassilvitskii 2007) under the weighted distance: the first centroid
     * uniformly, each next one with probability proportional to the distance to the nearest
     * centroid chosen so far. The distance update runs over fixed chunks in parallel; the
     * chunk totals are added in chunk order, so the result is the same on any number of threads.
     */
    public static float[] seedPlusPlus(float[] x, float[] w, int n, int d, int k, SplittableRandom random) {
        float[] cb = new float[k * d];
        double[] nearest = new double[n];
        Arrays.fill(nearest, Double.POSITIVE_INFINITY);
        int chunks = (n + SEED_CHUNK - 1) / SEED_CHUNK;
        double[] chunkTotal = new double[chunks];
        int pick = random.nextInt(n);
        for (int c = 0; c < k; c++) {
            System.arraycopy(x, pick * d, cb, c * d, d);
            final int cc = c;
            Parallel.forEach(0, chunks, ch -> {
                int lo = ch * SEED_CHUNK;
                int hi = Math.min(n, lo + SEED_CHUNK);
                double t = 0;
                for (int i = lo; i < hi; i++) {
                    double s = 0;
                    for (int j = 0; j < d; j++) {
                        double diff = x[i * d + j] - cb[cc * d + j];
                        s += (w == null ? 1.0 : w[i * d + j]) * diff * diff;
                    }
                    if (s < nearest[i]) {
                        nearest[i] = s;
                    }
                    t += nearest[i];
                }
                chunkTotal[ch] = t;
            });
            if (c + 1 == k) {
                break;
            }
            double total = 0;
            for (double t : chunkTotal) {
                total += t;
            }
            if (total <= 0) { // every vector already sits on a centroid: take the next unused one
                pick = (pick + 1) % n;
                continue;
            }
            double u = random.nextDouble() * total;
            double acc = 0;
            int ch = 0;
            while (ch < chunks - 1 && u >= acc + chunkTotal[ch]) {
                acc += chunkTotal[ch];
                ch++;
            }
            int hi = Math.min(n, (ch + 1) * SEED_CHUNK);
            pick = hi - 1;
            for (int i = ch * SEED_CHUNK; i < hi; i++) {
                acc += nearest[i];
                if (u < acc) {
                    pick = i;
                    break;
                }
            }
        }
        return cb;
    }

    /**
     * GPTVQ's "Mahalanobis initialisation" (GPTVQ appendix, EM initialization): sort the points
     * by Mahalanobis distance to their mean (covariance in double, a small ridge keeps it
     * invertible), then take k points spaced evenly through the sorted list (index
     * i·⌊n/(k−1)⌋, the last one clamped to n−1). Deterministic; ties keep input order.
     */
    public static float[] seedMahalanobis(float[] x, int n, int d, int k) {
        double[] mean = new double[d];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++) {
                mean[j] += x[i * d + j];
            }
        }
        for (int j = 0; j < d; j++) {
            mean[j] /= n;
        }
        double[] cov = new double[d * d];
        for (int i = 0; i < n; i++) {
            for (int a = 0; a < d; a++) {
                double da = x[i * d + a] - mean[a];
                for (int b = 0; b < d; b++) {
                    cov[a * d + b] += da * (x[i * d + b] - mean[b]);
                }
            }
        }
        double trace = 0;
        for (int a = 0; a < d; a++) {
            trace += cov[a * d + a];
        }
        for (int a = 0; a < d * d; a++) {
            cov[a] /= n;
        }
        for (int a = 0; a < d; a++) {
            cov[a * d + a] += 1e-9 * Math.max(trace / n / d, 1e-30);
        }
        double[] inv = invertSpd(cov, d);
        double[] dist = new double[n];
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int a = 0; a < d; a++) {
                double da = x[i * d + a] - mean[a];
                for (int b = 0; b < d; b++) {
                    s += da * inv[a * d + b] * (x[i * d + b] - mean[b]);
                }
            }
            dist[i] = s;
            order[i] = i;
        }
        Arrays.sort(order, (p, q) -> Double.compare(dist[p], dist[q]));
        float[] cb = new float[k * d];
        int step = k > 1 ? n / (k - 1) : 0;
        for (int c = 0; c < k; c++) {
            int pick = order[Math.min(n - 1, c * step)];
            System.arraycopy(x, pick * d, cb, c * d, d);
        }
        return cb;
    }

    /** The inverse of a small symmetric positive-definite matrix by Gauss-Jordan with partial pivoting. */
    static double[] invertSpd(double[] a, int d) {
        double[] m = a.clone();
        double[] inv = new double[d * d];
        for (int i = 0; i < d; i++) {
            inv[i * d + i] = 1;
        }
        for (int col = 0; col < d; col++) {
            int piv = col;
            for (int r = col + 1; r < d; r++) {
                if (Math.abs(m[r * d + col]) > Math.abs(m[piv * d + col])) {
                    piv = r;
                }
            }
            if (m[piv * d + col] == 0) {
                throw new IllegalArgumentException("singular covariance");
            }
            for (int c = 0; c < d; c++) {
                double t = m[col * d + c];
                m[col * d + c] = m[piv * d + c];
                m[piv * d + c] = t;
                t = inv[col * d + c];
                inv[col * d + c] = inv[piv * d + c];
                inv[piv * d + c] = t;
            }
            double p = m[col * d + col];
            for (int c = 0; c < d; c++) {
                m[col * d + c] /= p;
                inv[col * d + c] /= p;
            }
            for (int r = 0; r < d; r++) {
                if (r != col) {
                    double f = m[r * d + col];
                    for (int c = 0; c < d; c++) {
                        m[r * d + c] -= f * m[col * d + c];
                        inv[r * d + c] -= f * inv[col * d + c];
                    }
                }
            }
        }
        return inv;
    }
}
