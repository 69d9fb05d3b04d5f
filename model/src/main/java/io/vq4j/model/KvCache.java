package io.vq4j.model;

/**
 * Keys and values of every layer for positions [0, length), for incremental decoding.
 * Layout and growth are owned by {@link LlamaModel}.
 */
public final class KvCache {
    final int capacity;
    final float[][] keys;   // [layer][pos * kvDim + j]
    final float[][] values; // [layer][pos * kvDim + j]
    int length;

    KvCache(LlamaConfig config, int capacity) {
        this.capacity = capacity;
        this.keys = new float[config.nLayers()][(int) Math.multiplyExact((long) capacity, config.kvDim())];
        this.values = new float[config.nLayers()][(int) Math.multiplyExact((long) capacity, config.kvDim())];
    }

    /** Positions held so far; the next token goes at this position. */
    public int length() {
        return length;
    }

    public int capacity() {
        return capacity;
    }

    /** Forgets every position, keeping the memory. */
    public void clear() {
        length = 0;
    }
}
