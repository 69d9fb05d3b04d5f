package io.vq4j.quant.gptvq;

import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.MethodOption;
import io.vq4j.quant.method.OptionTable;
import io.vq4j.quant.method.VectorOptions;

import static io.vq4j.quant.method.SharedOptions.BLOCK_SIZE;
import static io.vq4j.quant.method.SharedOptions.CENTROIDS;
import static io.vq4j.quant.method.SharedOptions.DIM;
import static io.vq4j.quant.method.SharedOptions.GROUP_ROWS;
import static io.vq4j.quant.method.SharedOptions.GROUP_SIZE;
import static io.vq4j.quant.method.SharedOptions.INIT;
import static io.vq4j.quant.method.SharedOptions.INT8_CODEBOOKS;
import static io.vq4j.quant.method.SharedOptions.ITERS;
import static io.vq4j.quant.method.SharedOptions.TOL;

/**
 * The options of gptvq.
 *
 * @param groupSize      columns per codebook group (the paper's m; 0, the default: whole rows)
 * @param blockSize      lazy-update block width B
 * @param dim            sub-vector length d, 1..16
 * @param centroids      codebook size k, 2..65,536
 * @param groupRows      codebook group height in rows (0 = all rows)
 * @param iters          EM iterations
 * @param tol            EM relative improvement that stops early
 * @param init           seeding: "kmeans++" or "mahalanobis"
 * @param int8Codebooks  store codebooks as int8 + an fp16 scale instead of fp16
 * @param codebookUpdate least-squares codebook update after the GPTQ loop (--no-codebook-update: off)
 * @param blockNorm      blockwise normalisation with 4-bit log-domain scales; 0 = off, else the number
 *                       of columns per scale
 */
public record GptvqOptions(int groupSize, int blockSize, int dim, int centroids, int groupRows, int iters, double tol,
                           String init, boolean int8Codebooks, boolean codebookUpdate, int blockNorm)
        implements VectorOptions {
    public static final MethodOption<Boolean> NO_CODEBOOK_UPDATE = MethodOption.flag("--no-codebook-update",
            MethodOption.METHODS + ": skip the codebook update");
    public static final MethodOption<Integer> BLOCK_NORM = MethodOption.integer("--block-norm", "C", 0,
            MethodOption.METHODS + ": blockwise normalisation, C columns per 4-bit scale");

    /** The options gptvq takes, with its defaults (codebook groups default to whole rows). */
    public static final OptionTable<GptvqOptions> TABLE = OptionTable.<GptvqOptions>builder()
            .add(GROUP_SIZE, 0, GptvqOptions::groupSize)
            .add(BLOCK_SIZE, GptvqOptions::blockSize)
            .add(DIM, GptvqOptions::dim)
            .add(CENTROIDS, GptvqOptions::centroids)
            .add(GROUP_ROWS, GptvqOptions::groupRows)
            .add(ITERS, GptvqOptions::iters)
            .add(TOL, GptvqOptions::tol)
            .add(INIT, GptvqOptions::init)
            .add(INT8_CODEBOOKS, GptvqOptions::int8Codebooks)
            .add(NO_CODEBOOK_UPDATE, o -> !o.codebookUpdate())
            .add(BLOCK_NORM, GptvqOptions::blockNorm)
            .build(v -> new GptvqOptions(v.get(GROUP_SIZE), v.get(BLOCK_SIZE), v.get(DIM), v.get(CENTROIDS),
                    v.get(GROUP_ROWS), v.get(ITERS), v.get(TOL), v.get(INIT), v.get(INT8_CODEBOOKS),
                    !v.get(NO_CODEBOOK_UPDATE), v.get(BLOCK_NORM)));

    @Override
    public Method<GptvqOptions> method() {
        return Gptvq.METHOD;
    }
}
