package io.vq4j.pack;

import io.vq4j.pack.QuantizedLayer.Axis;
import io.vq4j.pack.QuantizedLayer.BlockScales;
import io.vq4j.pack.QuantizedLayer.Scalar;
import io.vq4j.pack.QuantizedLayer.Segment;
import io.vq4j.pack.QuantizedLayer.Stage;
import io.vq4j.pack.QuantizedLayer.Vector;

/** The CPU reference of {@link QuantizedLayer#dequantize()}: plain loops, one order of operations. */
public final class Dequantizer {
    private Dequantizer() {
    }

    public static float[] dequantize(QuantizedLayer q) {
        int rows = q.rows();
        int cols = q.cols();
        float[] w = new float[rows * cols];
        for (Segment s : q.segments()) {
            switch (s.encoding()) {
                case Scalar sc -> scalar(sc, rows, cols, s.from(), s.width(), w);
                case Vector v -> vector(v, rows, cols, s.from(), s.width(), w);
            }
        }
        if (q.normScale() != null) {
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    w[r * cols + c] = w[r * cols + c] * q.normScale()[c] + q.normBias()[c];
                }
            }
        }
        if (q.perm() != null) {
            float[] out = new float[rows * cols];
            int[] perm = q.perm();
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    out[r * cols + perm[c]] = w[r * cols + c];
                }
            }
            w = out;
        }
        return w;
    }

    private static void scalar(Scalar s, int rows, int cols, int from, int width, float[] w) {
        int groups = (width + s.groupSize() - 1) / s.groupSize();
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < width; c++) {
                int g = r * groups + c / s.groupSize();
                w[r * cols + from + c] = s.scales()[g] * (s.codes()[r * width + c] - s.zeros()[g]);
            }
        }
    }

    /** Number of codebook groups of a vector encoding over a segment of rows × width. */
    public static int groups(Vector v, int rows, int width) {
        return ((rows + v.groupRows() - 1) / v.groupRows()) * ((width + v.groupCols() - 1) / v.groupCols());
    }

    /** Number of sub-vectors of a vector encoding over a segment of rows × width. */
    public static int vectors(Vector v, int rows, int width) {
        return v.axis() == Axis.IN ? rows * (width / v.dim()) : (rows / v.dim()) * width;
    }

    private static void vector(Vector v, int rows, int cols, int from, int width, float[] w) {
        int d = v.dim();
        int colBlocks = (width + v.groupCols() - 1) / v.groupCols();
        BlockScales bs = v.blockScales();
        int scaleBlocks = bs == null ? 0 : (width + bs.blockCols() - 1) / bs.blockCols();
        int n = vectors(v, rows, width);
        for (int i = 0; i < n; i++) {
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
                for (Stage st : v.stages()) {
                    sum += st.codebooks()[(g * st.k() + st.indices()[i]) * d + j];
                }
                if (bs != null) {
                    sum *= bs.scale(bs.codes()[r * scaleBlocks + c / bs.blockCols()]);
                }
                w[r * cols + from + c] = sum;
            }
        }
    }
}
