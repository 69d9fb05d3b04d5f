package io.vq4j.eval.metrics;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Spearman's rho against values worked out by hand. */
class SpearmanTest {
    @Test
    void ranksShareTheMeanOfTies() {
        assertArrayEquals(new double[]{1, 2, 3.5, 5, 3.5}, Spearman.ranks(new double[]{5, 6, 7, 8, 7}));
        assertArrayEquals(new double[]{3, 1, 2}, Spearman.ranks(new double[]{0.9, -1, 0.1}));
        assertArrayEquals(new double[]{2, 2, 2}, Spearman.ranks(new double[]{4, 4, 4}));
        assertThrows(IllegalArgumentException.class, () -> Spearman.ranks(new double[]{1, Double.NaN}));
    }

    @Test
    void rhoByHand() {
        // ranks a = 1..5, b = (1, 2, 3.5, 5, 3.5): mean 3 each; da = (-2, -1, 0, 1, 2), db = (-2, -1, 0.5, 2, 0.5);
        // Σ da·db = 4 + 1 + 0 + 2 + 1 = 8; Σ da² = 10, Σ db² = 4 + 1 + 0.25 + 4 + 0.25 = 9.5: rho = 8 / sqrt(95)
        assertEquals(8 / Math.sqrt(95), Spearman.rho(new double[]{1, 2, 3, 4, 5}, new double[]{5, 6, 7, 8, 7}), 1e-15);
        // no ties: 1 - 6 Σd² / (n (n² - 1)); a = (1, 2, 3, 4), b ranks (2, 1, 4, 3): Σd² = 4 -> 1 - 24/60 = 0.6
        assertEquals(0.6, Spearman.rho(new double[]{1, 2, 3, 4}, new double[]{20, 10, 40, 30}), 1e-15);
        // monotone but not linear: exactly 1; reversed: exactly -1
        assertEquals(1, Spearman.rho(new double[]{1, 2, 3, 4}, new double[]{1, 10, 1000, 1e9}), 1e-15);
        assertEquals(-1, Spearman.rho(new double[]{1, 2, 3, 4}, new double[]{9, 7, 3, 1}), 1e-15);
        assertTrue(Double.isNaN(Spearman.rho(new double[]{1}, new double[]{2})));
        assertTrue(Double.isNaN(Spearman.rho(new double[]{1, 1, 1}, new double[]{1, 2, 3})));
        assertThrows(IllegalArgumentException.class, () -> Spearman.rho(new double[]{1, 2}, new double[]{1}));
    }
}
