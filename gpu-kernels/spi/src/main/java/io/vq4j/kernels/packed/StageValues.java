package io.vq4j.kernels.packed;

/**
 * The values of one codebook stage as a method hands them to
 * {@link PackedMatrixBuilder#vector}; the matrix keeps them packed ({@link Stage} is the stage
 * it then holds).
 *
 * @param codebooks      groups × k × dim centroid values (exactly representable in the format)
 * @param codebookScales per group, for INT8; null for F16
 * @param indices        one per vector, in [0, k)
 * @param sharedTensor   null, or the name of the tensor that holds this codebook for every layer
 *                       sharing it ({@code codebooks} then holds a copy of it, one group)
 */
public record StageValues(int k, CodebookFormat format, float[] codebooks, float[] codebookScales, int[] indices,
                          String sharedTensor) {
    /** A stage with its own codebook. */
    public StageValues(int k, CodebookFormat format, float[] codebooks, float[] codebookScales, int[] indices) {
        this(k, format, codebooks, codebookScales, indices, null);
    }

    /** A stage with its own fp16-format codebook (any float values, for the kernels alone). */
    public StageValues(int k, float[] codebooks, int[] indices) {
        this(k, CodebookFormat.F16, codebooks, null, indices);
    }
}
