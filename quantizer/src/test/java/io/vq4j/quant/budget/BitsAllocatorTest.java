package io.vq4j.quant.budget;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BitsAllocatorTest {
    /** The least loss within the budget over every choice, by enumeration. */
    private static double bruteForce(long[][] bytes, double[][] loss, long budget) {
        int layers = bytes.length;
        int[] pick = new int[layers];
        double best = Double.POSITIVE_INFINITY;
        while (true) {
            long b = 0;
            double l = 0;
            for (int i = 0; i < layers; i++) {
                b += bytes[i][pick[i]];
                l += loss[i][pick[i]];
            }
            if (b <= budget && l < best) {
                best = l;
            }
            int i = 0;
            while (i < layers && ++pick[i] == bytes[i].length) {
                pick[i++] = 0;
            }
            if (i == layers) {
                return best;
            }
        }
    }

    @Test
    void optimalAgainstBruteForceOnRandomSmallInstances() {
        Random r = new Random(7);
        for (int t = 0; t < 300; t++) {
            int layers = 1 + r.nextInt(5);
            int cands = 1 + r.nextInt(4);
            long[][] bytes = new long[layers][cands];
            double[][] loss = new double[layers][cands];
            long max = 0;
            for (int i = 0; i < layers; i++) {
                for (int j = 0; j < cands; j++) {
                    bytes[i][j] = r.nextInt(200);
                    loss[i][j] = r.nextDouble();
                    max += bytes[i][j];
                }
            }
            long budget = r.nextLong(max + 1);
            double expected = bruteForce(bytes, loss, budget);
            BitsAllocator.Choice c = BitsAllocator.allocate(bytes, loss, budget);
            if (expected == Double.POSITIVE_INFINITY) {
                assertNull(c, "infeasible instance " + t);
                continue;
            }
            assertNotNull(c, "instance " + t);
            assertTrue(c.bytes() <= budget, "instance " + t + ": " + c.bytes() + " > " + budget);
            assertEquals(expected, c.loss(), 1e-12, "instance " + t);
            long sum = 0;
            for (int i = 0; i < layers; i++) {
                sum += bytes[i][c.pick()[i]];
            }
            assertEquals(sum, c.bytes(), "the reported bytes are the chosen candidates' own");
        }
    }

    @Test
    void coarseUnitsNeverExceedTheBudgetAndStayNearTheOptimum() {
        Random r = new Random(11);
        for (int t = 0; t < 200; t++) {
            int layers = 2 + r.nextInt(4);
            long[][] bytes = new long[layers][3];
            double[][] loss = new double[layers][3];
            for (int i = 0; i < layers; i++) {
                for (int j = 0; j < 3; j++) {
                    bytes[i][j] = 1000 + r.nextInt(100_000);
                    loss[i][j] = r.nextDouble();
                }
            }
            long budget = 1000L * layers + r.nextInt(200_000);
            BitsAllocator.Choice c = BitsAllocator.allocate(bytes, loss, budget, 64); // units of ~thousands of bytes
            double exact = bruteForce(bytes, loss, budget);
            if (c == null) {
                assertEquals(Double.POSITIVE_INFINITY, exact);
                continue;
            }
            assertTrue(c.bytes() <= budget, "instance " + t + ": " + c.bytes() + " > " + budget);
            assertTrue(c.loss() >= exact - 1e-12, "no choice beats the optimum");
        }
    }

    @Test
    void infeasibleBudgetIsNull() {
        long[][] bytes = {{10, 20}, {5, 7}};
        double[][] loss = {{1, 0}, {1, 0}};
        assertNull(BitsAllocator.allocate(bytes, loss, 14));
        BitsAllocator.Choice c = BitsAllocator.allocate(bytes, loss, 15);
        assertArrayEquals(new int[]{0, 0}, c.pick());
        assertEquals(15, c.bytes());
    }

    @Test
    void tiesGoToTheEarlierCandidateAndRepeat() {
        long[][] bytes = {{8, 8, 4}, {8, 8, 4}, {8, 8, 4}};
        double[][] loss = {{1, 1, 3}, {1, 1, 3}, {1, 1, 3}};
        BitsAllocator.Choice c = BitsAllocator.allocate(bytes, loss, 20);
        // two layers at 8 bytes and one at 4 fit in 20; which layer takes the cheap one is fixed by the order
        assertEquals(5, c.loss());
        for (int rep = 0; rep < 5; rep++) {
            assertArrayEquals(c.pick(), BitsAllocator.allocate(bytes, loss, 20).pick());
        }
        for (int p : c.pick()) {
            assertTrue(p != 1, "candidate 1 ties candidate 0 and comes later: never chosen");
        }
    }

    @Test
    void aLargerBudgetNeverPredictsMoreLoss() {
        long[][] bytes = {{100, 300, 900}, {50, 150, 450}, {200, 600, 1800}};
        double[][] loss = {{9, 3, 1}, {4, 2, 1}, {30, 10, 2}};
        double prev = Double.POSITIVE_INFINITY;
        for (long b = 350; b <= 3200; b += 50) {
            BitsAllocator.Choice c = BitsAllocator.allocate(bytes, loss, b);
            assertTrue(c.bytes() <= b);
            assertTrue(c.loss() <= prev);
            prev = c.loss();
        }
        assertEquals(4, prev);
    }

    /**
     * The usual greedy (upgrade the layer with the best loss saved per byte while it fits) on
     * the same instance, to show the instance is one it gets wrong.
     */
    private static double greedy(long[][] bytes, double[][] loss, long budget) {
        int[] pick = new int[bytes.length]; // candidate 0 is each layer's cheapest here
        long used = 0;
        for (long[] b : bytes) {
            used += b[0];
        }
        while (true) {
            int bi = -1;
            int bj = -1;
            double best = 0;
            for (int i = 0; i < bytes.length; i++) {
                for (int j = 0; j < bytes[i].length; j++) {
                    long extra = bytes[i][j] - bytes[i][pick[i]];
                    double saved = loss[i][pick[i]] - loss[i][j];
                    if (extra > 0 && saved > 0 && used + extra <= budget && saved / extra > best) {
                        best = saved / extra;
                        bi = i;
                        bj = j;
                    }
                }
            }
            if (bi < 0) {
                double l = 0;
                for (int i = 0; i < bytes.length; i++) {
                    l += loss[i][pick[i]];
                }
                return l;
            }
            used += bytes[bi][bj] - bytes[bi][pick[bi]];
            pick[bi] = bj;
        }
    }

    @Test
    void whereGreedyFailsTheDpIsExactAndABudgetAtAFeasibleTotalIsSpentWhole() {
        // A's upgrade saves the most per byte (9/6 > 5/4), so greedy takes it and then fits
        // neither B's nor C's; upgrading B and C instead fills the budget of 8 bytes exactly
        long[][] bytes = {{0, 6}, {0, 4}, {0, 4}};
        double[][] loss = {{9, 0}, {5, 0}, {5, 0}};
        assertEquals(10.0, greedy(bytes, loss, 8), 0.0, "greedy: A upgraded, B and C not");
        BitsAllocator.Choice c = BitsAllocator.allocate(bytes, loss, 8);
        assertArrayEquals(new int[]{0, 1, 1}, c.pick());
        assertEquals(8, c.bytes(), "the budget is a feasible total and the optimum spends it whole");
        assertEquals(9.0, c.loss(), 0.0);
        assertEquals(bruteForce(bytes, loss, 8), c.loss(), 0.0);
        // one byte less and B + C no longer fit: A alone is then the optimum
        BitsAllocator.Choice less = BitsAllocator.allocate(bytes, loss, 7);
        assertArrayEquals(new int[]{1, 0, 0}, less.pick());
        assertEquals(6, less.bytes());
        assertEquals(10.0, less.loss(), 0.0);
        // the same exactness when the DP counts in coarse units (a unit of 2 bytes divides every size)
        BitsAllocator.Choice coarse = BitsAllocator.allocate(bytes, loss, 8, 4);
        assertArrayEquals(new int[]{0, 1, 1}, coarse.pick());
        assertEquals(8, coarse.bytes());
    }
}
