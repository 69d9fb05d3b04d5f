package io.vq4j.quant.method;


import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.PackedMatrix;
import java.util.Map;

/**
 * A quantization method as the registry lists it: its name, what it needs and produces
 * (Hessian or not; scalar codes, or vectors along one axis), the options it takes
 * ({@link OptionTable}) and the algorithm. Each method package defines one, and the rest of the
 * program asks it instead of comparing method names.
 *
 * @param <O> the method's options record
 */
public final class Method<O extends MethodOptions> implements LayerQuantizer {
    /** What a method package implements: checks and quantization with its own options, typed. */
    public interface Algorithm<O> {
        /**
         * Checks the options (and the spec's shared settings) against a layer shape before any
         * work; IllegalArgumentException with a one-line reason.
         */
        void validate(O options, QuantSpec spec, int rows, int cols);

        PackedMatrix quantize(LayerProblem problem, O options);
    }

    private final String name;
    private final Class<O> type;
    private final Axis vectorAxis;
    private final boolean needsHessian;
    private final boolean usesSeed;
    private final OptionTable<O> table;
    private final Algorithm<O> algorithm;

    private Method(String name, Class<O> type, Axis vectorAxis, boolean needsHessian, boolean usesSeed,
                   OptionTable<O> options, Algorithm<O> algorithm) {
        this.name = name;
        this.type = type;
        this.vectorAxis = vectorAxis;
        this.needsHessian = needsHessian;
        this.usesSeed = usesSeed;
        this.table = options;
        this.algorithm = algorithm;
    }

    /** A method that stores scalar codes; it cannot share codebooks. */
    public static <O extends MethodOptions> Method<O> scalar(String name, Class<O> type, boolean needsHessian,
                                                             OptionTable<O> options, Algorithm<O> algorithm) {
        return new Method<>(name, type, null, needsHessian, true, options, algorithm);
    }

    /**
     * A scalar method whose result does not depend on the seed (rtn, gptq): it is never given
     * one (its {@link LayerProblem#seed} is 0 whatever the run's seed), so the same layer gives
     * the same bytes under every seed, and a sweep over seeds runs it once ({@link #usesSeed}).
     */
    public static <O extends MethodOptions> Method<O> scalarWithoutSeed(String name, Class<O> type,
                                                                        boolean needsHessian, OptionTable<O> options,
                                                                        Algorithm<O> algorithm) {
        return new Method<>(name, type, null, needsHessian, false, options, algorithm);
    }

    /** A method that stores sub-vectors along {@code axis} as codebook indices; it can share codebooks. */
    public static <O extends VectorOptions> Method<O> vector(String name, Axis axis, Class<O> type,
                                                             boolean needsHessian, OptionTable<O> options,
                                                             Algorithm<O> algorithm) {
        return new Method<>(name, type, axis, needsHessian, true, options, algorithm);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public boolean needsHessian() {
        return needsHessian;
    }

    /**
     * Whether the seed can change its result; false for a method made by {@link #scalarWithoutSeed},
     * which never sees the seed.
     */
    public boolean usesSeed() {
        return usesSeed;
    }

    /** Whether the method stores sub-vectors as codebook indices (else scalar codes). */
    public boolean isVector() {
        return vectorAxis != null;
    }

    /** The axis its sub-vectors run along (IN: d consecutive columns of a row); null for a scalar method. */
    public Axis vectorAxis() {
        return vectorAxis;
    }

    /** Whether layers may share its codebooks (--share-codebooks kind|all): every vector method. */
    public boolean sharesCodebooks() {
        return isVector();
    }

    /** The options it takes. */
    public OptionTable<O> table() {
        return table;
    }

    /** Its options as given (see {@link OptionTable#make}), its defaults for the rest. */
    public O options(Map<String, ?> given) {
        return table.make(given);
    }

    /** Every option at this method's default. */
    public O defaults() {
        return table.make(Map.of());
    }

    /** The spec's options, which must be this method's. */
    public O options(QuantSpec spec) {
        if (!type.isInstance(spec.options())) {
            throw new IllegalArgumentException("a " + spec.method() + " spec given to " + name);
        }
        return type.cast(spec.options());
    }

    /** The option values an options record of this method holds (option name → value), in table order. */
    public Map<String, Object> values(MethodOptions o) {
        if (!type.isInstance(o)) {
            throw new IllegalArgumentException(o + " are not options of " + name);
        }
        return table.values(type.cast(o));
    }

    @Override
    public void validate(QuantSpec spec, int rows, int cols) {
        algorithm.validate(options(spec), spec, rows, cols);
    }

    @Override
    public PackedMatrix quantize(LayerProblem problem) {
        LayerProblem p = usesSeed ? problem : problem.withSeed(0);
        return algorithm.quantize(p, options(p.spec()));
    }

    @Override
    public String toString() {
        return name;
    }
}
