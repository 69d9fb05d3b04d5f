package io.vq4j.quant.vptq;

import io.vq4j.core.InputException;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.MethodOption;
import io.vq4j.quant.method.OptionTable;
import io.vq4j.quant.method.VectorOptions;

import java.util.List;

import static io.vq4j.quant.method.SharedOptions.BLOCK_SIZE;
import static io.vq4j.quant.method.SharedOptions.CENTROIDS;
import static io.vq4j.quant.method.SharedOptions.DIM;
import static io.vq4j.quant.method.SharedOptions.INT8_CODEBOOKS;
import static io.vq4j.quant.method.SharedOptions.ITERS;
import static io.vq4j.quant.method.SharedOptions.TOL;

/**
 * The options of vptq. --config (a VPTQ-style name such as v8-k65536-256, {@link VptqConfig})
 * is not kept: it sets dim, centroids and residualCentroids, over what those options say.
 *
 * @param blockSize         lazy-update block width B
 * @param dim               sub-vector length d (d consecutive rows of a column), 1..16
 * @param centroids         stage-1 codebook size k, 2..65,536
 * @param iters             k-means iterations
 * @param tol               k-means relative improvement that stops early
 * @param int8Codebooks     store codebooks as int8 + an fp16 scale instead of fp16
 * @param residualCentroids the residual stages' codebook sizes, in order (empty = none)
 * @param outlierPercent    percent of columns (highest diag H) with their own codebook
 * @param outlierCentroids  the outlier codebook's size (0 = same as centroids)
 * @param perm              order columns by diag H
 * @param norm              per-input-channel normalisation: bias = mean, scale = standard deviation over the rows
 */
public record VptqOptions(int blockSize, int dim, int centroids, int iters, double tol, boolean int8Codebooks,
                          List<Integer> residualCentroids, double outlierPercent, int outlierCentroids, boolean perm,
                          boolean norm) implements VectorOptions {
    public static final MethodOption<List<Integer>> RESIDUAL_CENTROIDS = MethodOption.integers("--residual-centroids",
            "K", MethodOption.METHODS + ": a residual stage of K centroids (repeatable)");
    public static final MethodOption<Double> OUTLIER_PERCENT = MethodOption.real("--outlier-percent", "P", 0.0,
            MethodOption.METHODS + ": percent of columns with their own codebook");
    public static final MethodOption<Integer> OUTLIER_CENTROIDS = MethodOption.integer("--outlier-centroids", "K", 0,
            MethodOption.METHODS + ": the outlier codebook's size");
    public static final MethodOption<Boolean> PERM = MethodOption.flag("--perm",
            MethodOption.METHODS + ": order columns by diag H");
    public static final MethodOption<Boolean> NORM = MethodOption.flag("--norm",
            MethodOption.METHODS + ": per input channel, subtract the mean and divide by the standard deviation");
    public static final MethodOption<String> CONFIG = MethodOption.text("--config", "NAME", null,
            MethodOption.METHODS + ": a VPTQ-style name, e.g. v8-k65536-256");

    /** The options vptq takes, with its defaults. */
    public static final OptionTable<VptqOptions> TABLE = OptionTable.<VptqOptions>builder()
            .add(BLOCK_SIZE, VptqOptions::blockSize)
            .add(DIM, VptqOptions::dim)
            .add(CENTROIDS, VptqOptions::centroids)
            .add(ITERS, VptqOptions::iters)
            .add(TOL, VptqOptions::tol)
            .add(INT8_CODEBOOKS, VptqOptions::int8Codebooks)
            .add(RESIDUAL_CENTROIDS, VptqOptions::residualCentroids)
            .add(OUTLIER_PERCENT, VptqOptions::outlierPercent)
            .add(OUTLIER_CENTROIDS, VptqOptions::outlierCentroids)
            .add(PERM, VptqOptions::perm)
            .add(NORM, VptqOptions::norm)
            .addSetter(CONFIG)
            .build(VptqOptions::make);

    public VptqOptions {
        residualCentroids = List.copyOf(residualCentroids);
    }

    private static VptqOptions make(OptionTable.Values v) {
        VptqOptions o = new VptqOptions(v.get(BLOCK_SIZE), v.get(DIM), v.get(CENTROIDS), v.get(ITERS), v.get(TOL),
                v.get(INT8_CODEBOOKS), v.get(RESIDUAL_CENTROIDS), v.get(OUTLIER_PERCENT), v.get(OUTLIER_CENTROIDS),
                v.get(PERM), v.get(NORM));
        String config = v.get(CONFIG);
        if (config == null) {
            return o;
        }
        try {
            return VptqConfig.parse(config).apply(o);
        } catch (IllegalArgumentException e) {
            throw new InputException(CONFIG.name() + ": " + e.getMessage());
        }
    }

    @Override
    public Method<VptqOptions> method() {
        return Vptq.METHOD;
    }
}
