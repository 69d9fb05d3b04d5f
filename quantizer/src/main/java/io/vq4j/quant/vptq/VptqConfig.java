package io.vq4j.quant.vptq;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A VPTQ configuration named the way the VPTQ authors name their models: {@code v8-k65536-256}
 * is vector length d = 8, k = 65,536 centroids and one residual stage of 256 centroids
 * (16/8 + 8/8 = 3 bits per weight). Any number of residual stages may follow
 * ({@code v4-k256-16-16}); {@code v8-k4096} has none, and so has {@code v8-k65536-0}, the
 * spelling of the published "-0-" models.
 *
 * @param dim               vector length d, 1..16
 * @param centroids         stage-1 codebook size, 2..65,536
 * @param residualCentroids the residual stages' codebook sizes, in order, each 2..65,536
 */
public record VptqConfig(int dim, int centroids, List<Integer> residualCentroids) {
    private static final Pattern NAME = Pattern.compile("v(\\d{1,5})-k(\\d{1,6})((?:-\\d{1,6})*)");

    public VptqConfig {
        residualCentroids = List.copyOf(residualCentroids);
        if (dim < 1 || dim > 16) {
            throw new IllegalArgumentException("VPTQ vector length must be 1..16, got " + dim);
        }
        checkK("centroids", centroids);
        for (int k : residualCentroids) {
            checkK("residual centroids", k);
        }
    }

    private static void checkK(String what, int k) {
        if (k < 2 || k > 65536) {
            throw new IllegalArgumentException("VPTQ " + what + " must be 2..65536, got " + k);
        }
    }

    /** Parses {@code v<d>-k<k>[-<k_res>]...}; IllegalArgumentException with one line otherwise. */
    public static VptqConfig parse(String name) {
        Matcher m = NAME.matcher(name == null ? "" : name.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException("VPTQ config '" + name
                    + "' is not of the form v<d>-k<k>[-<k_res>...], e.g. v8-k65536-256");
        }
        List<Integer> residual = new ArrayList<>();
        String tail = m.group(3);
        if (!tail.isEmpty()) {
            for (String part : tail.substring(1).split("-")) {
                residual.add(Integer.parseInt(part));
            }
        }
        if (residual.equals(List.of(0))) { // "v8-k65536-0": no residual stage
            residual.clear();
        }
        try {
            return new VptqConfig(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), residual);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("VPTQ config '" + name + "': " + e.getMessage(), e);
        }
    }

    /** The options with this configuration's d, k and residual stages. */
    public VptqOptions apply(VptqOptions o) {
        return new VptqOptions(o.blockSize(), dim, centroids, o.iters(), o.tol(), o.int8Codebooks(), residualCentroids,
                o.outlierPercent(), o.outlierCentroids(), o.perm(), o.norm());
    }

    /** The name this configuration parses from, e.g. "v8-k65536-256". */
    public String name() {
        StringBuilder s = new StringBuilder("v").append(dim).append("-k").append(centroids);
        for (int k : residualCentroids) {
            s.append('-').append(k);
        }
        return s.toString();
    }

    /**
     * Nominal bits per weight of VPTQ options: the index bits per weight of every stage,
     * Σ_s ⌈log2 k_s⌉ / d (log2 k for the usual powers of two, as the VPTQ write-ups count), with
     * the outlier columns' share (outlierPercent()) counted at the outlier codebook's size.
     * Codebooks, norm and permutation are not included — the true figure is the packed file's
     * size × 8 / weights.
     */
    public static double nominalBitsPerWeight(VptqOptions spec) {
        double residualBits = 0;
        for (int k : spec.residualCentroids()) {
            residualBits += indexBits(k);
        }
        double share = spec.outlierPercent() / 100.0;
        int outlierK = spec.outlierCentroids() == 0 ? spec.centroids() : spec.outlierCentroids();
        double main = (indexBits(spec.centroids()) + residualBits) / spec.dim();
        double outlier = (indexBits(outlierK) + residualBits) / spec.dim();
        return (1 - share) * main + share * outlier;
    }

    private static int indexBits(int k) {
        return Math.max(1, 32 - Integer.numberOfLeadingZeros(k - 1));
    }
}
