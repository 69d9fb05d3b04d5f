package io.vq4j.kernels.packed;

/**
 * One codebook stage of a vector segment, as a row of {@link PackedMatrix#stageTable()} (k,
 * indexBits, indicesAt, codebooksAt) with what the packed file needs besides. Its data is
 * read through {@link PackedMatrix#indices} and {@link PackedMatrix#codebooks}.
 *
 * @param k                 centroids per codebook
 * @param indexBits         bits per index, ceil(log2 k) and at least 1
 * @param indicesAt         byte offset of the bit-packed indices (one per vector) in {@link PackedMatrix#bytes()}
 * @param codebooksAt       float offset of the codebooks (groups × k × dim values) in {@link PackedMatrix#floats()}
 * @param format            how the packed file stores the codebook
 * @param codebookScalesAt  for {@link CodebookFormat#INT8}, the offset of the per-group scales in the
 *                          matrix's host-only values ({@link PackedMatrix#codebookScales}); −1 for fp16
 * @param sharedTensor      null for the layer's own codebook; otherwise the one tensor (vq4j.shared.…) that
 *                          holds it for every layer sharing it, which the packed file then stores once
 */
public record Stage(int k, int indexBits, int indicesAt, int codebooksAt, CodebookFormat format,
                    int codebookScalesAt, String sharedTensor) {
    /** Index width of a k-centroid codebook: ceil(log2 k), at least 1 bit. */
    public static int indexBits(int k) {
        return Math.max(1, 32 - Integer.numberOfLeadingZeros(k - 1));
    }
}
