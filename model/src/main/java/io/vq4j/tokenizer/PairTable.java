package io.vq4j.tokenizer;

import java.util.Arrays;

/**
 * The merge rules of a BPE vocabulary: (left id, right id) → (rank, merged id), lower rank
 * merges first. An open-addressing table on primitive longs, because encoding looks a pair up
 * for every adjacent symbol and boxing would dominate the run time.
 */
final class PairTable {
    static final long MISSING = -1L;

    private long[] keys;
    private long[] values;
    private int size;

    PairTable(int expected) {
        int cap = Integer.highestOneBit(Math.max(16, expected * 2) - 1) << 1;
        keys = new long[cap];
        values = new long[cap];
        Arrays.fill(keys, MISSING);
    }

    int size() {
        return size;
    }

    /** Adds or replaces the rule for (left, right); the last rule given for a pair wins, as in HF. */
    void put(int left, int right, int rank, int merged) {
        if (left < 0 || right < 0 || rank < 0 || merged < 0) {
            throw new IllegalArgumentException("negative id or rank");
        }
        if (2 * (size + 1) > keys.length) {
            grow();
        }
        long key = key(left, right);
        int i = slot(key);
        if (keys[i] == MISSING) {
            keys[i] = key;
            size++;
        }
        values[i] = ((long) rank << 32) | merged;
    }

    /** (rank << 32 | merged id), or {@link #MISSING}. */
    long get(int left, int right) {
        int i = slot(key(left, right));
        return keys[i] == MISSING ? MISSING : values[i];
    }

    static int rank(long entry) {
        return (int) (entry >>> 32);
    }

    static int merged(long entry) {
        return (int) entry;
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        int mask = keys.length - 1;
        long h = key * 0x9E3779B97F4A7C15L;
        int i = (int) (h ^ (h >>> 29)) & mask;
        while (keys[i] != MISSING && keys[i] != key) {
            i = (i + 1) & mask;
        }
        return i;
    }

    private void grow() {
        long[] oldKeys = keys;
        long[] oldValues = values;
        keys = new long[oldKeys.length * 2];
        values = new long[oldKeys.length * 2];
        Arrays.fill(keys, MISSING);
        for (int j = 0; j < oldKeys.length; j++) {
            if (oldKeys[j] != MISSING) {
                int i = slot(oldKeys[j]);
                keys[i] = oldKeys[j];
                values[i] = oldValues[j];
            }
        }
    }
}
