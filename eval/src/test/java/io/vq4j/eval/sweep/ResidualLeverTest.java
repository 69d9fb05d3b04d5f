package io.vq4j.eval.sweep;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The lever's selection and cost, and the interpolation it is judged by, against hand-computed values. */
class ResidualLeverTest {
    @Test
    void keepsTheWorstSubVectorsAndCountsTheirBytes() {
        // four 2-d sub-vectors, all quantized to 0: errors 0, 2, 0.25, 9
        float[] w = {0, 0, 1, 1, 0.5f, 0, 3, 0};
        float[] q = new float[8];
        long[] counts = new long[4];
        float[] out = ResidualLever.keepWorst(w, q, 2, 50, counts);
        assertArrayEquals(new float[]{0, 0, 1, 1, 0, 0, 3, 0}, out, "the two worst (9 and 2) are kept");
        assertEquals(2, counts[0]);
        assertEquals(4, counts[1]);
        assertEquals(1 + 2 * 2 * 2, counts[2], "bitmap: 1 byte; fp16: 2 vectors x 2 values x 2 bytes");
        assertEquals(1 + 2 * 2 * 2, counts[3], "index list: 2 indices x 2 bits = 1 byte; fp16: 8");
        // kept values are fp16-rounded
        float[] fine = {1.0001f, 0, 0, 0};
        float[] kept = ResidualLever.keepWorst(fine, new float[4], 2, 50, new long[4]);
        assertEquals(Float.float16ToFloat(Float.floatToFloat16(1.0001f)), kept[0]);
        assertTrue(kept[0] != 1.0001f);
        // ties: the lower index first
        float[] tie = ResidualLever.keepWorst(new float[]{1, 0, 1, 0}, new float[4], 2, 50, new long[4]);
        assertArrayEquals(new float[]{1, 0, 0, 0}, tie);
    }

    static Sweep.Result at(double bits, double ratio) {
        return new Sweep.Result("k", "k", "kmeans", Map.of(), List.of(), bits, bits, 0, 1, ratio, 1, 0, 0, 0, 0, 0,
                "cpu", List.of(), 0);
    }

    @Test
    void interpolatesLogLinearlyInsideTheCurveOnly() {
        List<Sweep.Result> curve = List.of(at(4, 2), at(2, 32), at(3, 8));
        assertEquals(8, ResidualLever.interpolate(curve, 3), 1e-12);
        assertEquals(16, ResidualLever.interpolate(curve, 2.5), 1e-12, "halfway in bits: the geometric mean");
        assertEquals(4, ResidualLever.interpolate(curve, 3.5), 1e-12, "sqrt(8 * 2)");
        assertTrue(Double.isNaN(ResidualLever.interpolate(curve, 1.9)));
        assertTrue(Double.isNaN(ResidualLever.interpolate(curve, 4.1)));
    }
}
