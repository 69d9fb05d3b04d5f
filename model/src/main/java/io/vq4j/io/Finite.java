package io.vq4j.io;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * The non-finite check every loaded tensor goes through: a NaN or an infinity in a weight, an
 * embedding row, a norm or a codebook would otherwise come out as `ppl NaN` with exit 0. One
 * vectorised pass over the values as they are read (several GB/s), so it costs far less than
 * the read itself.
 */
public final class Finite {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private Finite() {
    }

    /** The index of the first NaN or infinity in {@code a}, or -1 when every value is finite. */
    public static int firstNonFinite(float[] a) {
        int i = 0;
        for (int n = S.loopBound(a.length); i < n; i += S.length()) {
            VectorMask<Float> bad = FloatVector.fromArray(S, a, i).test(VectorOperators.IS_FINITE).not();
            if (bad.anyTrue()) {
                return i + bad.firstTrue();
            }
        }
        for (; i < a.length; i++) {
            if (!Float.isFinite(a[i])) {
                return i;
            }
        }
        return -1;
    }

    /**
     * A one-line description of the first non-finite value of a tensor with the given shape
     * (its value and index, with row and column for a matrix), or null when all are finite.
     */
    public static String describe(float[] a, long... shape) {
        int i = firstNonFinite(a);
        if (i < 0) {
            return null;
        }
        String where = shape.length == 2 && shape[1] > 0
                ? " at index " + i + " (row " + i / shape[1] + ", column " + i % shape[1] + ")"
                : " at index " + i + (shape.length > 0 ? " of shape " + Arrays.toString(shape) : "");
        return "has a non-finite value (" + a[i] + ")" + where;
    }
}
