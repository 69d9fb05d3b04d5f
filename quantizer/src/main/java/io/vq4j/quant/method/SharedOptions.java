package io.vq4j.quant.method;

/**
 * The options that more than one method takes, each defined once; a method's
 * {@link OptionTable} lists those it takes (and may give one its own default, as kmeans and
 * gptvq do for --group-size). In help texts, {@value MethodOption#METHODS} stands for the
 * methods that take the option, {@value MethodOption#SCALAR} and {@value MethodOption#VECTOR}
 * for the scalar and the vector ones among them (filled in from the registry).
 */
public final class SharedOptions {
    private SharedOptions() {
    }

    public static final MethodOption<Integer> BITS = MethodOption.integer("--bits", "B", 4,
            "{methods}: bits per weight, 2..8 (default 4)");
    public static final MethodOption<Integer> GROUP_SIZE = MethodOption.integer("--group-size", "G", 128,
            "{scalar}: columns per scale; {vector}: columns per codebook group (0 = whole row)");
    public static final MethodOption<Boolean> SYMMETRIC = MethodOption.flag("--symmetric",
            "{methods}: symmetric grid");
    public static final MethodOption<Integer> BLOCK_SIZE = MethodOption.integer("--block-size", "B", 128,
            "{methods}: lazy update block (default 128)");
    public static final MethodOption<Integer> DIM = MethodOption.integer("--dim", "D", 2,
            "VQ vector length d, 1..16 (default 2)");
    public static final MethodOption<Integer> CENTROIDS = MethodOption.integer("--centroids", "K", 256,
            "VQ codebook size k, 2..65536 (default 256)");
    public static final MethodOption<Integer> GROUP_ROWS = MethodOption.integer("--group-rows", "R", 0,
            "{methods}: rows per codebook group (0 = all)");
    public static final MethodOption<Integer> ITERS = MethodOption.integer("--iters", "N", 25,
            "k-means iterations (default 25)");
    public static final MethodOption<Double> TOL = MethodOption.real("--tol", "X", 1e-4,
            "k-means relative tolerance (default 1e-4)");
    public static final MethodOption<String> INIT = MethodOption.text("--init", "I", "kmeans++",
            "{methods}: seeding, kmeans++ or mahalanobis");
    public static final MethodOption<Boolean> INT8_CODEBOOKS = MethodOption.flag("--int8-codebooks",
            "{methods}: int8 codebooks with an fp16 scale");
}
