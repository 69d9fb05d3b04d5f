package io.vq4j.quant;

import io.vq4j.kernels.packed.Axis;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/** The registry of --method names. */
public final class Methods {
    private static final Map<String, Supplier<LayerQuantizer>> METHODS = new LinkedHashMap<>();

    static {
        METHODS.put("rtn", RtnQuantizer::new);
        METHODS.put("gptq", Gptq::new);
        METHODS.put("kmeans", KMeansVq::new);
        METHODS.put("gptvq", Gptvq::new);
        METHODS.put("vptq", Vptq::new);
    }

    private Methods() {
    }

    public static Iterable<String> names() {
        return METHODS.keySet();
    }

    /** The quantizer for a method name; IllegalArgumentException naming the known ones otherwise. */
    public static LayerQuantizer forName(String name) {
        Supplier<LayerQuantizer> s = METHODS.get(name);
        if (s == null) {
            throw new IllegalArgumentException("unknown method '" + name + "' (known: "
                    + String.join(", ", METHODS.keySet()) + ")");
        }
        return s.get();
    }

    /** Checks shared by the scalar methods (rtn, gptq). */
    static void checkScalar(QuantSpec s, int cols) {
        if (s.bits() < 2 || s.bits() > 8) {
            throw new IllegalArgumentException("--bits must be 2..8 for " + s.method() + ", got " + s.bits());
        }
        if (s.groupSize() < 0) {
            throw new IllegalArgumentException("--group-size must be >= 0, got " + s.groupSize());
        }
        if (s.sharesCodebooks()) {
            throw new IllegalArgumentException("--share-codebooks is for the vector methods (kmeans, gptvq, vptq)");
        }
    }

    /**
     * What --share-codebooks kind|all needs: one codebook per tensor (no groups), one stage,
     * fp16 codebooks, and nothing that gives a layer its own codebook space (outliers, norm,
     * block scales). Whether k fits the pooled vectors is checked by the caller, who sees them all.
     */
    static void checkSharing(QuantSpec s) {
        if (!s.sharesCodebooks()) {
            return;
        }
        String why = s.groupRows() > 0 || s.groupSize() > 0 && !s.method().equals("vptq")
                ? "codebook groups (--group-size/--group-rows must be 0)"
                : !s.residualCentroids().isEmpty() ? "residual stages (--residual-centroids)"
                : s.outlierPercent() > 0 ? "outlier columns (--outlier-percent)"
                : s.norm() ? "--norm (each layer's own codebook space)"
                : s.blockNorm() > 0 ? "--block-norm (each layer's own codebook space)"
                : s.int8Codebooks() ? "--int8-codebooks (shared codebooks are fp16)"
                : null;
        if (why != null) {
            throw new IllegalArgumentException("--share-codebooks " + s.shareCodebooks() + " cannot be combined with "
                    + why);
        }
    }

    /**
     * Checks shared by the vector methods: d in 1..16 dividing the vector axis and the codebook
     * groups, k in 2..65,536 and at most the number of vectors in a group.
     */
    static void checkVector(QuantSpec s, int rows, int cols, Axis axis) {
        int d = s.dim();
        if (d < 1 || d > 16) {
            throw new IllegalArgumentException("--dim must be 1..16, got " + d);
        }
        if (s.centroids() < 2 || s.centroids() > 65536) {
            throw new IllegalArgumentException("--centroids must be 2..65536, got " + s.centroids());
        }
        int gRows = s.groupRows() <= 0 ? rows : Math.min(rows, s.groupRows());
        int gCols = s.groupSize() <= 0 ? cols : Math.min(cols, s.groupSize());
        boolean in = axis == Axis.IN;
        int along = in ? cols : rows;
        int groupAlong = in ? gCols : gRows;
        String what = in ? "columns" : "rows";
        if (along % d != 0) {
            throw new IllegalArgumentException("--dim " + d + " does not divide the " + along + " " + what);
        }
        if (groupAlong % d != 0) {
            throw new IllegalArgumentException("--dim " + d + " does not divide the codebook group's " + groupAlong
                    + " " + what);
        }
        if (cols % gCols != 0 || rows % gRows != 0) {
            throw new IllegalArgumentException("the codebook group (" + gRows + " rows x " + gCols
                    + " columns) does not tile the " + rows + "x" + cols + " matrix");
        }
        long vectors = (long) gRows * gCols / d;
        checkSharing(s);
        if (s.centroids() > vectors && !s.sharesCodebooks()) {
            throw new IllegalArgumentException("--centroids " + s.centroids() + " is more than the " + vectors
                    + " vectors of a codebook group");
        }
    }
}
