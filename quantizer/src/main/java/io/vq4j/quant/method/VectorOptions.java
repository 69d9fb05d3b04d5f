package io.vq4j.quant.method;

/**
 * What the options of every vector method hold: the sub-vector length d, the codebook size k
 * and the k-means settings. A codebook shared between layers (--share-codebooks) is fitted
 * with these.
 */
public interface VectorOptions extends MethodOptions {
    int dim();

    int centroids();

    int iters();

    double tol();

    /** k-means seeding: kmeans++, unless the method offers others (--init). */
    default String init() {
        return "kmeans++";
    }
}
