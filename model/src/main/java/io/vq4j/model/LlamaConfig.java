package io.vq4j.model;

/**
 * The shape and numerics of a Llama-family decoder (Llama, Mistral, Qwen2 and llama2.c
 * checkpoints all map onto it).
 *
 * @param architecture      e.g. "LlamaForCausalLM"; "llama2c" for legacy checkpoints
 * @param dim               hidden size
 * @param hiddenDim         MLP intermediate size
 * @param nLayers           decoder blocks
 * @param nHeads            query heads
 * @param nKvHeads          key/value heads (GQA when fewer than nHeads)
 * @param headDim           per-head size (usually dim / nHeads, but HF configs may set it)
 * @param vocabSize         tokens
 * @param maxSeqLen         max_position_embeddings (llama2.c: seq_len)
 * @param ropeTheta         RoPE base
 * @param ropeScaling       Llama-3 style scaling, or null
 * @param rmsNormEps        RMSNorm epsilon
 * @param tieWordEmbeddings lm_head shares the token embedding
 * @param attentionBias     q/k/v projections carry a bias (Qwen2)
 * @param bosId             beginning-of-sequence token id
 * @param eosId             end-of-sequence token id
 */
public record LlamaConfig(
        String architecture,
        int dim,
        int hiddenDim,
        int nLayers,
        int nHeads,
        int nKvHeads,
        int headDim,
        int vocabSize,
        int maxSeqLen,
        double ropeTheta,
        RopeScaling ropeScaling,
        double rmsNormEps,
        boolean tieWordEmbeddings,
        boolean attentionBias,
        int bosId,
        int eosId) {

    /** Llama-3 "rope_type": "llama3" frequency scaling. */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositionEmbeddings) {
    }

    public int qDim() {
        return nHeads * headDim;
    }

    public int kvDim() {
        return nKvHeads * headDim;
    }

    /** Parameters of the linear layers, embeddings and norms (no RoPE tables). */
    public long parameterCount() {
        long perLayer = (long) dim * qDim() + 2L * dim * kvDim() + (long) qDim() * dim
                + 3L * dim * hiddenDim + 2L * dim;
        if (attentionBias) {
            perLayer += qDim() + 2L * kvDim();
        }
        long p = (long) vocabSize * dim + perLayer * nLayers + dim;
        if (!tieWordEmbeddings) {
            p += (long) vocabSize * dim;
        }
        return p;
    }
}
