package io.vq4j.model;

/**
 * The two row orders of the q and k projections that the two RoPE conventions need. vq4j's
 * forward pass (like Hugging Face) rotates the pairs (j, j + headDim/2) of each head
 * ("rotate_half"); llama2.c and llama.cpp (GGUF) rotate the adjacent pairs (2j, 2j + 1). Moving
 * row 2j + c of each head to row c·(headDim/2) + j turns one into the other; the two methods
 * here are that permutation and its inverse (what llama.cpp's converter applies to HF weights).
 */
public final class RopeLayout {
    private RopeLayout() {
    }

    /** Interleaved rows to rotate_half rows: within each head, row 2j+c becomes row c·(headDim/2)+j. */
    public static float[] toRotateHalf(float[] w, int heads, int headDim, int cols) {
        return permute(w, heads, headDim, cols, true);
    }

    /** rotate_half rows to interleaved rows: the inverse of {@link #toRotateHalf}. */
    public static float[] toInterleaved(float[] w, int heads, int headDim, int cols) {
        return permute(w, heads, headDim, cols, false);
    }

    private static float[] permute(float[] w, int heads, int headDim, int cols, boolean toRotateHalf) {
        if (headDim % 2 != 0 || w.length != (long) heads * headDim * cols) {
            throw new IllegalArgumentException(w.length + " weights are not " + heads + " heads of " + headDim
                    + " even rows of " + cols);
        }
        float[] out = new float[w.length];
        int half = headDim / 2;
        for (int h = 0; h < heads; h++) {
            for (int j = 0; j < half; j++) {
                for (int c = 0; c < 2; c++) {
                    int interleaved = h * headDim + 2 * j + c;
                    int rotateHalf = h * headDim + c * half + j;
                    int src = toRotateHalf ? interleaved : rotateHalf;
                    int dst = toRotateHalf ? rotateHalf : interleaved;
                    System.arraycopy(w, src * cols, out, dst * cols, cols);
                }
            }
        }
        return out;
    }
}
