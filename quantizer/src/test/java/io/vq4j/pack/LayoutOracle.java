package io.vq4j.pack;

import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.Stage;

import java.util.List;

/**
 * A test oracle: W decoded from the layout as docs/FORMAT.md states it, read through the
 * packed matrix's named segments and its unpacked data, walking vector by vector (not row by
 * row as {@link io.vq4j.kernels.packed.PackedReference} does) with plain loops. Independent of
 * the reference decoder, so that the parity tests check the reference against the documented
 * layout, not against itself.
 */
final class LayoutOracle {
    private LayoutOracle() {
    }

    /** W, rows × cols row-major, original column order. */
    static float[] dequantize(PackedMatrix q) {
        int rows = q.rows();
        int cols = q.cols();
        float[] w = new float[rows * cols];
        for (Segment s : q.segments()) {
            switch (s) {
                case Segment.Scalar sc -> scalar(q, sc, w);
                case Segment.Vector v -> vector(q, v, w);
                case Segment.Dense d -> throw new IllegalArgumentException("the oracle decodes the packed format only");
            }
        }
        float[] normScale = q.normScale();
        float[] normBias = q.normBias();
        if (normScale != null) {
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    w[r * cols + c] = w[r * cols + c] * normScale[c] + normBias[c];
                }
            }
        }
        int[] perm = q.perm();
        if (perm != null) {
            float[] out = new float[rows * cols];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    out[r * cols + perm[c]] = w[r * cols + c];
                }
            }
            w = out;
        }
        return w;
    }

    private static void scalar(PackedMatrix q, Segment.Scalar s, float[] w) {
        int cols = q.cols();
        int width = s.width();
        int[] codes = q.codes(s);
        float[] scales = q.scales(s);
        int[] zeros = q.zeros(s);
        for (int r = 0; r < q.rows(); r++) {
            for (int c = 0; c < width; c++) {
                int g = r * s.groups() + c / s.groupSize();
                w[r * cols + s.from() + c] = scales[g] * (codes[r * width + c] - zeros[g]);
            }
        }
    }

    private static void vector(PackedMatrix q, Segment.Vector v, float[] w) {
        int rows = q.rows();
        int cols = q.cols();
        int width = v.width();
        int d = v.dim();
        int colBlocks = (width + v.groupCols() - 1) / v.groupCols();
        List<Stage> stages = q.stages(v);
        int[][] indices = new int[stages.size()][];
        float[][] books = new float[stages.size()][];
        for (int t = 0; t < stages.size(); t++) {
            indices[t] = q.indices(v, stages.get(t));
            books[t] = q.codebooks(v, stages.get(t));
        }
        int[] scaleCodes = q.blockScaleCodes(v);
        int blockCols = v.blockScales() == null ? 0 : v.blockScales().blockCols();
        int scaleBlocks = blockCols == 0 ? 0 : (width + blockCols - 1) / blockCols;
        for (int i = 0; i < v.vectors(rows); i++) {
            int r0;
            int c0;
            if (v.axis() == Axis.IN) {
                r0 = i / (width / d);
                c0 = (i % (width / d)) * d;
            } else {
                c0 = i / (rows / d);
                r0 = (i % (rows / d)) * d;
            }
            int g = (r0 / v.groupRows()) * colBlocks + c0 / v.groupCols();
            for (int j = 0; j < d; j++) {
                int r = v.axis() == Axis.IN ? r0 : r0 + j;
                int c = v.axis() == Axis.IN ? c0 + j : c0;
                float sum = 0f;
                for (int t = 0; t < stages.size(); t++) {
                    sum += books[t][(g * stages.get(t).k() + indices[t][i]) * d + j];
                }
                if (scaleCodes != null) {
                    int code = scaleCodes[r * scaleBlocks + c / blockCols];
                    sum *= (float) Math.pow(2.0, v.blockScales().offset() + (double) code * v.blockScales().step());
                }
                w[r * cols + v.from() + c] = sum;
            }
        }
    }
}
