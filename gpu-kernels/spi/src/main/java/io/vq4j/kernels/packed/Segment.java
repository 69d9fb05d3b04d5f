package io.vq4j.kernels.packed;

/**
 * One column segment of a {@link PackedMatrix}: columns [from, to) of the stored (permuted,
 * normalised) matrix, encoded one way. Each record is a row of
 * {@link PackedMatrix#segmentTable()} with named fields (offsets point into the matrix's
 * arrays; the data itself is read through the matrix), plus what the packed file needs
 * besides (role, symmetric flag, block-scale grid).
 */
public sealed interface Segment permits Segment.Scalar, Segment.Vector, Segment.Dense {
    /** The kind code in the segment table ({@link PackedLayout#SEG_SCALAR} …). */
    int kind();

    int from();

    int to();

    /** The tensor-name prefix of the segment in the packed file: "" or "outlier_". */
    default String role() {
        return "";
    }

    default int width() {
        return to() - from();
    }

    /**
     * Scalar codes with per-row groups of groupSize consecutive columns (within the segment):
     * w = scale[g] · (code − zero[g]), g = r · groups + c / groupSize.
     *
     * @param codesAt  byte offset of the bit-packed codes (rows × width, {@code bits} each)
     * @param scalesAt float offset of the scales (rows × groups)
     * @param zerosAt  int offset of the zero points (rows × groups)
     */
    record Scalar(String role, int from, int to, int bits, int groupSize, boolean symmetric, int codesAt,
                  int scalesAt, int zerosAt) implements Segment {
        @Override
        public int kind() {
            return PackedLayout.SEG_SCALAR;
        }

        /** Groups per row. */
        public int groups() {
            return (width() + groupSize - 1) / groupSize;
        }
    }

    /**
     * Vector quantization. Sub-vectors of {@code dim} weights along {@code axis}, numbered
     * row-major over (row, column / dim) for IN and column-major over (column, row / dim) for
     * OUT. Codebook groups tile the segment in blocks of groupRows × groupCols weights, numbered
     * row-major; every group has its own codebook in each of the stageCount stages from
     * firstStage on ({@link PackedMatrix#stages(Vector)}), whose centroids are summed (residual
     * VQ), then multiplied by the block scale when there are {@code blockScales} (else null).
     */
    record Vector(String role, Axis axis, int from, int to, int dim, int groupRows, int groupCols, int firstStage,
                  int stageCount, BlockScales blockScales) implements Segment {
        @Override
        public int kind() {
            return axis == Axis.IN ? PackedLayout.SEG_VECTOR_IN : PackedLayout.SEG_VECTOR_OUT;
        }

        /** Codebook groups of the segment in a matrix of {@code rows} rows. */
        public int groups(int rows) {
            return groups(rows, width(), groupRows, groupCols);
        }

        /** Sub-vectors of the segment in a matrix of {@code rows} rows. */
        public int vectors(int rows) {
            return vectors(axis, rows, width(), dim);
        }

        /** Codebook groups of groupRows × groupCols over rows × width. */
        public static int groups(int rows, int width, int groupRows, int groupCols) {
            return ((rows + groupRows - 1) / groupRows) * ((width + groupCols - 1) / groupCols);
        }

        /** Sub-vectors of dim weights along the axis over rows × width. */
        public static int vectors(Axis axis, int rows, int width, int dim) {
            return axis == Axis.IN ? rows * (width / dim) : rows / dim * width;
        }
    }

    /**
     * Plain weights, row-major rows × width: fp32 in the floats ({@code bits} 32) or
     * little-endian IEEE half in the bytes ({@code bits} 16, starting on an even byte).
     *
     * @param valuesAt float offset (32 bits) or byte offset (16 bits) of the values
     */
    record Dense(int from, int to, int bits, int valuesAt) implements Segment {
        @Override
        public int kind() {
            return PackedLayout.SEG_DENSE;
        }
    }
}
