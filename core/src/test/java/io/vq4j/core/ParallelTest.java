package io.vq4j.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ParallelTest {
    @Test
    void everyIndexIsVisitedExactlyOnce() {
        for (int n : new int[] {0, 1, 7, 100, 10_001}) {
            AtomicIntegerArray seen = new AtomicIntegerArray(n + 3);
            Parallel.forEach(3, n + 3, i -> seen.incrementAndGet(i));
            for (int i = 0; i < n + 3; i++) {
                assertEquals(i < 3 ? 0 : 1, seen.get(i), "index " + i + " of n=" + n);
            }
        }
    }

    @Test
    void chunksCoverTheRangeWithoutOverlap() {
        int[] owner = new int[1000];
        Parallel.forChunks(0, 1000, 16, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                owner[i]++;
            }
        });
        int[] ones = new int[1000];
        java.util.Arrays.fill(ones, 1);
        assertArrayEquals(ones, owner);
    }
}
