package io.vq4j.model.minilm;

/**
 * The shape of a BERT encoder, as read from its ONNX graph: vocabulary, hidden width, layer
 * and head counts, feed-forward width, position and token-type table sizes, LayerNorm epsilon.
 * all-MiniLM-L6-v2: 30522, 384, 6, 12, 1536, 512, 2, 1e-12.
 */
public record MiniLmConfig(int vocabSize, int hidden, int layers, int heads, int intermediate, int maxPositions,
                           int typeVocabSize, float layerNormEps) {
    public MiniLmConfig {
        if (vocabSize <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || intermediate <= 0 || maxPositions <= 0
                || typeVocabSize <= 0 || hidden % heads != 0 || !(layerNormEps > 0)) {
            throw new IllegalArgumentException("not a valid encoder shape: " + vocabSize + "/" + hidden + "/" + layers
                    + "/" + heads + "/" + intermediate + "/" + maxPositions + "/" + typeVocabSize + "/" + layerNormEps);
        }
    }

    public int headDim() {
        return hidden / heads;
    }
}
