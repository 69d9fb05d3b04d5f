package io.vq4j.kernels;

/**
 * The operations of a Llama-family decoder forward on one backend's {@link ResidentMatrix
 * resident} activations (issue 17), so that a whole window (evaluation) or a whole calibration
 * sequence stays on the device: the host sends token ids in and gets one float per token (the
 * NLL) or the last position's logits back. Every operation works on whole rows of row-major
 * matrices from row 0 unless a row is named. The CPU backend's ops ({@code HostForwardOps}) are
 * the reference: the arithmetic of the model's host forward. A device runs the same operations in
 * its kernels in a fixed order (the same bits on every run); where that order differs from the
 * reference, the bound is stated on the method and checked by the backend's parity test.
 *
 * <p>Tolerances use u = 2⁻²⁴ (float rounding) and are those of vq.cl's forward kernels.
 */
public interface ForwardOps {
    /** A rows × cols resident matrix of zeros. */
    ResidentMatrix zeros(int rows, int cols);

    /** Copies rows [srcRow, srcRow + rows) of src into rows [dstRow, ...) of dst (same column count). */
    void copyRows(ResidentMatrix src, int srcRow, ResidentMatrix dst, int dstRow, int rows);

    /** Row i of out = row ids[offset + i] of the table (vocab × dim), for i in [0, n). Exact. */
    void embed(ResidentMatrix table, int[] ids, int offset, int n, ResidentMatrix out);

    /**
     * RMSNorm of rows [xRow, xRow + rows) of x into rows [outRow, ...) of out:
     * out = x · (1/√(Σx²/dim + eps)) · g, g a 1 × dim matrix. The reference sums the squares in
     * double; a device in float (a fixed tree, or in order), within (dim + 8)·u relative of it.
     */
    void rmsnorm(ResidentMatrix x, int xRow, int rows, ResidentMatrix gain, float eps, ResidentMatrix out, int outRow);

    /**
     * RoPE in place on the first rows of a (heads × headDim wide) with the angles of rows
     * [tableRow, tableRow + rows) of table (positions × headDim: cos then sin of each pair's angle,
     * {@code ForwardKernels.ropeTable}): pairs (i, i + headDim/2), or (2i, 2i + 1) when
     * interleaved. Exact (the same float products on every backend).
     */
    void rope(ResidentMatrix a, int rows, int heads, int headDim, ResidentMatrix table, int tableRow,
              boolean interleaved);

    /**
     * Causal grouped-query attention: the first rows of q (heads·headDim wide) are the queries at
     * positions start, start + 1, ...; keys and values (kvHeads·headDim wide) hold positions
     * [0, start + rows); row t of out gets softmax(q_t·K[0..start+t]ᵀ/√headDim)·V per head, query
     * head h reading kv head h / (heads / kvHeads). A device sums in another order than the
     * reference (a prefill tiled over queries with an online softmax, one rescale of the running
     * sums per tile of keys; a decode step split over a work-group's items): each output within
     * 16·(headDim + positions)·u of max|V| of the reference (u = 2⁻²⁴; ForwardOpsParityTest
     * measures at most a hundredth of it on PoCL). Not bit-exact: no test compares its bits.
     */
    void attention(ResidentMatrix q, ResidentMatrix keys, ResidentMatrix values, ResidentMatrix out, int rows,
                   int start, int heads, int kvHeads, int headDim);

    /** gate = silu(gate) · up on the first rows; a device's exp is within a few ulp: 8u relative. */
    void siluMul(ResidentMatrix gate, ResidentMatrix up, int rows);

    /** x += d on the first rows. Exact. */
    void add(ResidentMatrix x, ResidentMatrix d, int rows);

    /** Every one of the first rows of y += bias (1 × cols). Exact. */
    void addBias(ResidentMatrix y, int rows, ResidentMatrix bias);

    /**
     * Y = X · Wᵀ on the first rows, straight from packed weights made by this backend's upload:
     * {@link Backend#dequantMatmul}'s arithmetic (and its bound for rows = 1) with no host copy.
     */
    void matmul(PackedWeights w, ResidentMatrix x, int rows, ResidentMatrix y);

    /**
     * Per-row negative log-likelihood: out[i] = −log softmax(row i of logits)[targets[offset + i]]
     * for i in [0, rows), one float per row copied back. The reference computes in double; a device
     * in float (max, then a fixed tree of exp sums): within 2e-6·(1 + |nll|) of it for vocabularies
     * up to 2¹⁷ (measured on PoCL at 32,000: a tenth of that).
     */
    float[] nll(ResidentMatrix logits, int rows, int[] targets, int offset);

    /** Copies the first rows of m to the host. */
    float[] read(ResidentMatrix m, int rows);
}
