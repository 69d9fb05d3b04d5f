package io.vq4j.export.gguf;

import io.vq4j.io.gguf.BlockCodec;
import io.vq4j.io.gguf.BlockGrid;
import io.vq4j.io.gguf.GgmlType;
import io.vq4j.quant.core.ErrorFeedback;
import io.vq4j.quant.core.Linalg;
import io.vq4j.quant.method.LayerProblem;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * GPTQ straight onto a GGUF type's grid: the columns of W are quantized left to right with
 * GPTQ's error feedback (U the upper Cholesky factor of H⁻¹; column j's scaled error
 * (w_j − q_j) / U_jj goes to the later columns, inside a lazy block of B columns at once and to
 * the rest as one gemm, as {@code Gptq} does), and the codes are those of the ggml block type:
 * when the loop reaches the first column of a block (32 values; a 256-value super-block for
 * q4_K) each row's block grid is fitted by the type's own reference rule ({@link BlockCodec#fit}:
 * scale, min, and for q4_K the eight 6-bit sub-block scales and mins and the fp16 super-block
 * scales) from the weights as the feedback has left them, and every value of the block is then
 * rounded on that grid ({@link BlockCodec#code}) with its error fed forward. B is a multiple of
 * the block size, so every block is fitted from fully updated weights. Without feedback (H
 * diagonal) this is llama.cpp's reference rounding, value for value.
 *
 * <p>A layer whose rows are not whole blocks takes the type's fallback ({@link GgmlType#fallback},
 * as the export does); f16 is plain rounding.
 */
public final class GridGptq {
    /** The layer as stored: its ggml type, its data (rows in order, ggml blocks), and what it decodes to. */
    public record Encoded(GgmlType type, int rows, int cols, byte[] data, float[] dequantized) {
    }

    private GridGptq() {
    }

    /** The type a row of {@code cols} values is stored in when {@code type} is asked for. */
    public static GgmlType stored(GgmlType type, int cols) {
        GgmlType t = type;
        while (cols % t.blockSize() != 0) {
            t = t.fallback();
        }
        return t;
    }

    /** The lazy-update width: {@code requested} (default 128) rounded up to whole blocks of the type. */
    static int lazyWidth(int requested, GgmlType type) {
        int b = type.blockSize();
        int w = requested > 0 ? requested : 128;
        return (w + b - 1) / b * b;
    }

    /**
     * Quantizes {@code p.weight()} onto {@code type}'s grid with error feedback from
     * {@code p.hessian()} (already damped; see {@link Linalg#inverseCholeskyUpperDamped}).
     */
    public static Encoded quantize(LayerProblem p, GgmlType type, int blockSize) {
        int rows = p.rows();
        int cols = p.cols();
        GgmlType t = stored(type, cols);
        if (!t.isQuantized()) {
            return round(p.weight(), rows, cols, t);
        }
        BlockCodec codec = t.codec();
        int bs = t.blockSize();
        long rowBytes = t.bytes(cols);
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(rowBytes * rows)).order(ByteOrder.LITTLE_ENDIAN);
        double[] u = Linalg.inverseCholeskyUpperDamped(p.backend(), p.hessian(), cols, p.name());
        float[] w = p.weight().clone();
        BlockGrid[] grid = new BlockGrid[rows];
        int[][] codes = new int[rows][bs];
        int lazy = lazyWidth(blockSize, t);
        for (int i1 = 0; i1 < cols; i1 += lazy) {
            int i2 = Math.min(cols, i1 + lazy);
            int width = i2 - i1;
            float[] err = new float[rows * width];
            for (int j = i1; j < i2; j++) {
                int pos = j % bs;
                if (pos == 0) {
                    for (int r = 0; r < rows; r++) {
                        grid[r] = codec.fit(w, r * cols + j);
                    }
                }
                double ujj = u[j * cols + j];
                for (int r = 0; r < rows; r++) {
                    int at = r * cols + j;
                    int q = codec.code(grid[r], pos, w[at]);
                    codes[r][pos] = q;
                    float deq = codec.value(grid[r], pos, q);
                    float e = (float) ((w[at] - deq) / ujj);
                    w[at] = deq;
                    err[r * width + (j - i1)] = e;
                    for (int l = j + 1; l < i2; l++) {
                        w[r * cols + l] -= (float) (e * u[j * cols + l]);
                    }
                }
                if (pos == bs - 1) {
                    int b = j / bs;
                    for (int r = 0; r < rows; r++) {
                        codec.write(grid[r], codes[r], out.position(Math.toIntExact(r * rowBytes
                                + (long) b * t.blockBytes())));
                    }
                }
            }
            ErrorFeedback.lazyUpdate(p, w, rows, cols, u, err, i1, i2);
        }
        // w now holds exactly the decoded values (each column was replaced by its dequantized value)
        return new Encoded(t, rows, cols, out.array(), w);
    }

    /** Reference rounding (llama.cpp's quantize_row_*_ref; f16 / f32 as they are) of a weight. */
    public static Encoded round(float[] weight, int rows, int cols, GgmlType type) {
        GgmlType t = stored(type, cols);
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(t.bytes((long) rows * cols)))
                .order(ByteOrder.LITTLE_ENDIAN);
        t.encode(weight, 0, rows * cols, out);
        return new Encoded(t, rows, cols, out.array(), decode(out.array(), rows, cols, t));
    }

    static float[] decode(byte[] data, int rows, int cols, GgmlType t) {
        float[] v = new float[rows * cols];
        t.decode(MemorySegment.ofArray(data), 0, v, 0, rows * cols);
        return v;
    }
}
