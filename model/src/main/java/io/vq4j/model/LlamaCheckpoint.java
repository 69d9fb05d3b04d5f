package io.vq4j.model;

/** A loaded model: its configuration and weights, and where it came from. */
public record LlamaCheckpoint(LlamaConfig config, LlamaWeights weights, String source) {
}
