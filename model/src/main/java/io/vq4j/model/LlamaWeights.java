package io.vq4j.model;

import java.util.List;

/**
 * All weights of a Llama-family model.
 *
 * @param tokenEmbedding [vocab][dim], row-major
 * @param layers         decoder blocks in order
 * @param finalNorm      [dim]
 * @param lmHead         [vocab][dim]; for tied embeddings a Linear over tokenEmbedding
 */
public record LlamaWeights(float[] tokenEmbedding, List<LayerWeights> layers, float[] finalNorm, Linear lmHead) {
}
