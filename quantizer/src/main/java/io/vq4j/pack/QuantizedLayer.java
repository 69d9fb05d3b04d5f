package io.vq4j.pack;

import java.util.List;

/**
 * A quantized linear layer W (rows = out features × cols = in features) in storage form:
 * everything needed to rebuild it, nothing more. Every method (rtn, gptq, kmeans, gptvq,
 * vptq) produces one of these; {@link PackedLayers} writes it to safetensors tensors and reads
 * it back, and {@link #dequantize()} rebuilds W. The values held here are exactly the stored
 * ones (fp16-rounded scales and codebooks, int8 codebooks as code × scale), so the model
 * evaluated from the packed file equals the in-memory quantized model bit for bit.
 *
 * <p>Reconstruction, in this order:
 * <ol>
 *   <li>each {@link Segment} rebuilds columns [from, to) of the <em>permuted, normalised</em>
 *       matrix W'' from its encoding;</li>
 *   <li>norm (optional): W'[r, c] = W''[r, c] · normScale[c] + normBias[c];</li>
 *   <li>permutation (optional): W[r, perm[c]] = W'[r, c] (perm[c] is the original column
 *       stored at position c).</li>
 * </ol>
 *
 * @param method    the method that produced it ("rtn", "gptq", "kmeans", "gptvq", "vptq")
 * @param perm      column permutation, or null for the identity
 * @param normScale per-column scale (fp16 values), or null
 * @param normBias  per-column bias (fp16 values), or null (only together with normScale)
 * @param segments  disjoint column ranges covering [0, cols) in order
 */
public record QuantizedLayer(String method, int rows, int cols, int[] perm, float[] normScale, float[] normBias,
                             List<Segment> segments) {

    public QuantizedLayer {
        segments = List.copyOf(segments);
        int at = 0;
        for (Segment s : segments) {
            if (s.from() != at || s.to() <= s.from()) {
                throw new IllegalArgumentException("segments must cover the columns in order; got ["
                        + s.from() + ", " + s.to() + ") at column " + at);
            }
            at = s.to();
        }
        if (at != cols) {
            throw new IllegalArgumentException("segments cover " + at + " of " + cols + " columns");
        }
        if (perm != null && perm.length != cols) {
            throw new IllegalArgumentException("perm has " + perm.length + " entries for " + cols + " columns");
        }
        if ((normScale == null) != (normBias == null)
                || normScale != null && (normScale.length != cols || normBias.length != cols)) {
            throw new IllegalArgumentException("norm needs a scale and a bias per column");
        }
    }

    /** Columns [from, to) of W'' quantized one way. role is "" or "outlier_" (a tensor-name prefix). */
    public record Segment(String role, int from, int to, Encoding encoding) {
        public int width() {
            return to - from;
        }
    }

    public sealed interface Encoding permits Scalar, Vector {
    }

    /**
     * Scalar codes with per-row groups of groupSize consecutive columns (within the segment):
     * w = scales[g] · (codes[i] − zeros[g]), g = r · groups + c / groupSize.
     *
     * @param codes  rows × width, each in [0, 2^bits)
     * @param scales rows × groups, fp16 values
     * @param zeros  rows × groups, each in [0, 2^bits)
     */
    public record Scalar(int bits, int groupSize, boolean symmetric, int[] codes, float[] scales, int[] zeros)
            implements Encoding {
    }

    /** Along which dimension a sub-vector of d weights runs. */
    public enum Axis {
        /** d consecutive columns of one row (GPTVQ, naive k-means VQ). */
        IN,
        /** d consecutive rows of one column (VPTQ). */
        OUT
    }

    /**
     * Vector quantization. Sub-vectors of {@code dim} weights along {@code axis}; vectors are
     * numbered row-major over (row, column / dim) for IN and column-major over
     * (column, row / dim) for OUT. Codebook groups tile the segment in blocks of groupRows ×
     * groupCols weights (block-aligned to whole vectors), numbered row-major over the blocks;
     * each group has its own codebook in every stage. The stages' centroids are summed
     * (residual VQ), then multiplied by the block scale when present.
     */
    public record Vector(Axis axis, int dim, int groupRows, int groupCols, List<Stage> stages, BlockScales blockScales)
            implements Encoding {
        public Vector {
            stages = List.copyOf(stages);
            if (stages.isEmpty()) {
                throw new IllegalArgumentException("a vector encoding needs at least one stage");
            }
        }
    }

    /** Codebook storage. */
    public enum CodebookFormat {
        F16,
        /** int8 codes with one fp16 scale per codebook (symmetric): c = code · scale. */
        INT8
    }

    /**
     * One codebook stage.
     *
     * @param codebooks      groups × k × dim centroid values (exactly representable in format)
     * @param codebookScales per group, for INT8; null for F16
     * @param indices        one per vector, in [0, k)
     * @param sharedTensor   null when the codebook is the layer's own; otherwise the name of the
     *                       one tensor (e.g. vq4j.shared.mlp.down_proj.codebook) that holds this
     *                       codebook for every layer sharing it — {@code codebooks} then holds
     *                       a copy of it (one group), and the packed file stores it once
     */
    public record Stage(int k, CodebookFormat format, float[] codebooks, float[] codebookScales, int[] indices,
                        String sharedTensor) {
        public Stage(int k, CodebookFormat format, float[] codebooks, float[] codebookScales, int[] indices) {
            this(k, format, codebooks, codebookScales, indices, null);
        }

        /** Index width on disk: ceil(log2 k), at least 1 bit. */
        public int indexBits() {
            return Math.max(1, 32 - Integer.numberOfLeadingZeros(k - 1));
        }
    }

    /**
     * Per-block scales (GPTVQ's blockwise normalisation): one scale for each row and each run of
     * blockCols columns, s = 2^(offset + code · step), codes of {@code bits} bits.
     */
    public record BlockScales(int blockCols, int bits, float offset, float step, int[] codes) {
        public float scale(int code) {
            return (float) Math.pow(2.0, offset + (double) code * step);
        }
    }

    /** Number of weights, rows × cols. */
    public long weights() {
        return (long) rows * cols;
    }

    /** W, rows × cols row-major. */
    public float[] dequantize() {
        return Dequantizer.dequantize(this);
    }
}
