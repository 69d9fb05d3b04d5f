package io.vq4j.model.minilm;

/**
 * Receives each linear layer's input while the encoder runs, e.g. to accumulate Hessians
 * H += XᵀX. {@code x} is row-major [tokens × cols] (exactly that long), one row per token of
 * the sentences in the current chunk; it is reused after the call returns, so copy what you
 * keep. The three attention projections of a layer share one input and get the same array.
 * Calls come in forward order, from the calling thread.
 */
@FunctionalInterface
public interface ActivationSink {
    void accept(String layer, float[] x, int tokens, int cols);
}
