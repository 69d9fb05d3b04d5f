package io.vq4j.quant.method;

/**
 * A method's options record: the options that method takes and nothing else, each with the
 * method's default (see the method's {@link OptionTable}). What every method shares (damping,
 * codebook sharing) is in {@link QuantSpec}.
 */
public interface MethodOptions {
    /** The method these options configure. */
    Method<?> method();
}
