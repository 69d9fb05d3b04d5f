package io.vq4j.kernels;

/**
 * A rows × cols row-major float matrix held by one backend from {@link Backend#resident} until
 * {@link #close()}: uploaded once, read, written and multiplied in place by that backend's
 * operations (sub-matrices named by their first row and column, with the matrix's own
 * {@link #cols()} as leading dimension), read back once. The CPU backend's handle is the host
 * array itself (no copy: its operations write into that array); a GPU backend's is a device
 * buffer. Only the backend that made it accepts it.
 */
public interface ResidentMatrix extends AutoCloseable {
    int rows();

    int cols();

    /** Bytes held on the device (0 for a host array). */
    long deviceBytes();

    @Override
    void close();

    /** Checks that the sub-matrix at (row, col) of the given size lies inside the matrix. */
    default void checkRegion(String op, int row, int col, int rows, int cols) {
        if (row < 0 || col < 0 || rows < 0 || cols < 0 || (long) row + rows > rows() || (long) col + cols > cols()) {
            throw new IllegalArgumentException(op + ": region " + rows + "x" + cols + " at (" + row + ", " + col
                    + ") outside the " + rows() + "x" + cols() + " matrix");
        }
    }
}
