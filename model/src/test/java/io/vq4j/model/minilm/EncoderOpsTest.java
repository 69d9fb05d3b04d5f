package io.vq4j.model.minilm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The encoder's element-wise and attention steps on cases worked out by hand or from tables. */
class EncoderOpsTest {
    @Test
    void erfMatchesTabulatedValuesEverywhere() {
        // erf from standard tables (Abramowitz & Stegun Table 7.1, extended precision)
        double[][] known = {{0.1, 0.1124629160182849}, {0.5, 0.5204998778130465}, {1.0, 0.8427007929497149},
            {1.5, 0.9661051464753108}, {2.0, 0.9953222650189527}, {3.0, 0.9999779095030014}, {4.0, 0.9999999845827421}};
        for (double[] k : known) {
            assertEquals(k[1], Erf.erf(k[0]), 3e-12, "erf(" + k[0] + "), within the interpolation bound");
            assertEquals(-Erf.erf(k[0]), Erf.erf(-k[0]), "erf is odd");
            assertEquals(k[1], Erf.series(k[0]), 1e-14, "series at " + k[0]);
        }
        double worst = 0;
        for (double x = 0; x < 6.5; x += 0.001) {
            worst = Math.max(worst, Math.abs(Erf.erf(x) - Erf.series(x)));
        }
        assertEquals(0, worst, 3e-12, "table interpolation against the series on a fine grid");
        assertEquals(1.0, Erf.erf(Double.POSITIVE_INFINITY));
        assertEquals(0.0, Erf.erf(0.0));
    }

    @Test
    void geluIsXTimesTheNormalCdf() {
        assertEquals(0.8413447460685429f, Erf.gelu(1f));
        assertEquals(-0.15865525393145707f, Erf.gelu(-1f));
        assertEquals(1.9544997361036416f, Erf.gelu(2f));
        assertEquals(0f, Erf.gelu(0f));
        assertEquals(10f, Erf.gelu(10f));
    }

    @Test
    void layerNormAddsTheResidualAndNormalizesEachRow() {
        float[] x = {1, 2, 3, 4, 0, 0, 0, 8};
        float[] d = {0, 0, 0, 0, 1, 2, 3, -4};
        float[] out = new float[8];
        EncoderOps.addLayerNorm(x, d, new float[] {1, 1, 2, 1}, new float[] {0, 0, 0, 1}, 0f, out, 2, 4);
        double s = Math.sqrt(1.25); // both rows are 1, 2, 3, 4 after the residual: mean 2.5, variance 1.25
        float[] expected = {(float) (-1.5 / s), (float) (-0.5 / s), (float) (1.0 / s), (float) (1.5 / s + 1)};
        assertArrayEquals(concat(expected, expected), out, 1e-6f);
    }

    private static float[] concat(float[] a, float[] b) {
        float[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    @Test
    void attentionStaysWithinEachSequence() {
        // two sequences (1 and 2 tokens), one head of width 2
        float[] q = {9, 9, 1, 0, 0, 1};
        float[] k = {9, 9, 1, 0, 0, 1};
        float[] v = {5, 7, 1, 2, 3, 4};
        float[] out = new float[6];
        EncoderOps.attention(q, k, v, out, new int[] {0, 1}, new int[] {1, 2}, 1, 2, 1f);
        assertArrayEquals(new float[] {5, 7}, Arrays.copyOf(out, 2), "one token attends only to itself");
        double e = Math.E; // token 1 (q = [1, 0]) scores 1 against itself, 0 against token 2; token 2 the mirror
        float p = (float) (e / (e + 1));
        assertArrayEquals(new float[] {p * 1 + (1 - p) * 3, p * 2 + (1 - p) * 4, (1 - p) * 1 + p * 3,
            (1 - p) * 2 + p * 4}, Arrays.copyOfRange(out, 2, 6), 1e-6f);
    }

    @Test
    void poolingIsTheUnitLengthMeanOfTheRows() {
        float[] x = {0, 0, 9, 9, 1, 2, 5, 6}; // rows 1 and 2 average to (3, 4)
        assertArrayEquals(new float[] {0.6f, 0.8f}, EncoderOps.meanPoolNormalized(x, 2, 2, 2), 1e-7f);
    }
}
