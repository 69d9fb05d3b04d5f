package io.vq4j.quant.kmeans;

import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.OptionTable;
import io.vq4j.quant.method.VectorOptions;

import static io.vq4j.quant.method.SharedOptions.CENTROIDS;
import static io.vq4j.quant.method.SharedOptions.DIM;
import static io.vq4j.quant.method.SharedOptions.GROUP_ROWS;
import static io.vq4j.quant.method.SharedOptions.GROUP_SIZE;
import static io.vq4j.quant.method.SharedOptions.INIT;
import static io.vq4j.quant.method.SharedOptions.INT8_CODEBOOKS;
import static io.vq4j.quant.method.SharedOptions.ITERS;
import static io.vq4j.quant.method.SharedOptions.TOL;

/**
 * The options of kmeans.
 *
 * @param groupSize     columns per codebook group (0, the default: whole rows)
 * @param dim           sub-vector length d, 1..16
 * @param centroids     codebook size k, 2..65,536
 * @param groupRows     codebook group height in rows (0 = all rows); both 0 is one codebook per tensor
 * @param iters         k-means iterations
 * @param tol           k-means relative improvement that stops early
 * @param init          k-means seeding: "kmeans++" or "mahalanobis"
 * @param int8Codebooks store codebooks as int8 + an fp16 scale instead of fp16
 */
public record KMeansOptions(int groupSize, int dim, int centroids, int groupRows, int iters, double tol, String init,
                            boolean int8Codebooks) implements VectorOptions {
    /** The options kmeans takes, with its defaults (codebook groups default to whole rows). */
    public static final OptionTable<KMeansOptions> TABLE = OptionTable.<KMeansOptions>builder()
            .add(GROUP_SIZE, 0, KMeansOptions::groupSize)
            .add(DIM, KMeansOptions::dim)
            .add(CENTROIDS, KMeansOptions::centroids)
            .add(GROUP_ROWS, KMeansOptions::groupRows)
            .add(ITERS, KMeansOptions::iters)
            .add(TOL, KMeansOptions::tol)
            .add(INIT, KMeansOptions::init)
            .add(INT8_CODEBOOKS, KMeansOptions::int8Codebooks)
            .build(v -> new KMeansOptions(v.get(GROUP_SIZE), v.get(DIM), v.get(CENTROIDS), v.get(GROUP_ROWS),
                    v.get(ITERS), v.get(TOL), v.get(INIT), v.get(INT8_CODEBOOKS)));

    @Override
    public Method<KMeansOptions> method() {
        return KMeansVq.METHOD;
    }
}
