package io.vq4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The q/k row orders of the two RoPE conventions, and that the two permutations are inverses. */
class RopeLayoutTest {
    /** One head of 4 rows: interleaved pairs (r0, r1), (r2, r3) are rotate_half's (r0, r2), (r1, r3). */
    @Test
    void interleavedPairsBecomeHalves() {
        float[] interleaved = {10, 11, 20, 21, 30, 31, 40, 41};   // head of 4 rows x 2 columns
        float[] rotateHalf = {10, 11, 30, 31, 20, 21, 40, 41};
        assertArrayEquals(rotateHalf, RopeLayout.toRotateHalf(interleaved, 1, 4, 2));
        assertArrayEquals(interleaved, RopeLayout.toInterleaved(rotateHalf, 1, 4, 2));
    }

    @Test
    void thePermutationsAreInversesOnEveryHead() {
        SplittableRandom rnd = new SplittableRandom(3);
        float[] w = new float[4 * 8 * 5];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rnd.nextGaussian();
        }
        assertArrayEquals(w, RopeLayout.toInterleaved(RopeLayout.toRotateHalf(w, 4, 8, 5), 4, 8, 5));
        assertArrayEquals(w, RopeLayout.toRotateHalf(RopeLayout.toInterleaved(w, 4, 8, 5), 4, 8, 5));
        assertArrayEquals(Llama2cCheckpoint.toRotateHalf(w, 4, 8, 5), RopeLayout.toRotateHalf(w, 4, 8, 5));
    }
}
