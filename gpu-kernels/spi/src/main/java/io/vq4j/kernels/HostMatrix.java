package io.vq4j.kernels;

import java.util.Objects;

/**
 * A {@link ResidentMatrix} that is a host array: the CPU backend's handle, and what a backend
 * without device-resident support (the {@link Backend} defaults) holds. Closing it keeps the
 * array; operations on it after close are refused.
 */
public final class HostMatrix implements ResidentMatrix {
    private final float[] values;
    private final int rows;
    private final int cols;
    private final Object owner;
    private final boolean readOnly;
    private final Object prepared;
    private boolean closed;

    /** @param owner the backend that made it (only that one accepts it) */
    public HostMatrix(float[] values, int rows, int cols, Object owner) {
        this(values, rows, cols, owner, false, null);
    }

    private HostMatrix(float[] values, int rows, int cols, Object owner, boolean readOnly, Object prepared) {
        if (rows < 0 || cols < 0 || values.length < (long) rows * cols) {
            throw new IllegalArgumentException("resident: " + values.length + " floats for " + rows + "x" + cols);
        }
        this.values = values;
        this.rows = rows;
        this.cols = cols;
        this.owner = Objects.requireNonNull(owner);
        this.readOnly = readOnly;
        this.prepared = prepared;
    }

    /**
     * A read-only matrix ({@link Backend#residentWeights}): writes to it through {@link #write} and
     * {@link #writable} are refused. {@code prepared} is what the owner made of the values when
     * they came in (the CPU backend: their packing for its gemm), or null.
     */
    public static HostMatrix readOnly(float[] values, int rows, int cols, Object owner, Object prepared) {
        return new HostMatrix(values, rows, cols, owner, true, prepared);
    }

    /** What the owner made of a read-only matrix's values when it came in, or null. */
    public Object prepared() {
        return prepared;
    }

    /** Whether writes to this matrix are refused. */
    public boolean readOnly() {
        return readOnly;
    }

    /** The array behind the matrix (row-major, leading dimension {@link #cols()}). */
    public float[] values() {
        return values;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }

    @Override
    public long deviceBytes() {
        return 0;
    }

    @Override
    public void close() {
        closed = true;
    }

    /** Whether {@code owner} made this matrix. */
    public boolean ownedBy(Object owner) {
        return this.owner == owner;
    }

    /** m as a host matrix of {@code owner}, refused when another backend made it or it is closed. */
    public static HostMatrix of(ResidentMatrix m, Object owner) {
        if (!(m instanceof HostMatrix h) || h.owner != owner) {
            throw new IllegalArgumentException("resident matrix from another backend: " + m);
        }
        if (h.closed) {
            throw new IllegalStateException("resident matrix used after close()");
        }
        return h;
    }

    /** As {@link #of}, for a matrix an operation writes: a read-only one is refused (IllegalArgumentException). */
    public static HostMatrix writable(ResidentMatrix m, Object owner) {
        HostMatrix h = of(m, owner);
        if (h.readOnly) {
            throw new IllegalArgumentException("a read-only resident matrix (residentWeights) cannot be written: " + m);
        }
        return h;
    }

    /** Copies the region (row, col, rows × cols) to {@code dst} at {@code offset} with row stride {@code ld}. */
    public void read(int row, int col, int rows, int cols, float[] dst, int offset, int ld) {
        checkRegion("read", row, col, rows, cols);
        checkHost("read", dst, offset, ld, rows, cols);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(values, (row + r) * this.cols + col, dst, offset + r * ld, cols);
        }
    }

    /** Copies {@code src} (at {@code offset}, row stride {@code ld}) into the region (row, col, rows × cols). */
    public void write(int row, int col, int rows, int cols, float[] src, int offset, int ld) {
        if (readOnly) {
            throw new IllegalArgumentException("a read-only resident matrix (residentWeights) cannot be written: " + this);
        }
        checkRegion("write", row, col, rows, cols);
        checkHost("write", src, offset, ld, rows, cols);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(src, offset + r * ld, values, (row + r) * this.cols + col, cols);
        }
    }

    /** Checks a host array region (offset, row stride ld, rows × cols) of a read or write. */
    public static void checkHost(String op, float[] a, int offset, int ld, int rows, int cols) {
        if (offset < 0 || ld < cols || rows > 0 && cols > 0 && (long) offset + (long) (rows - 1) * ld + cols > a.length) {
            throw new IllegalArgumentException(op + ": host array of " + a.length + " floats too small for " + rows + "x"
                    + cols + " at offset " + offset + " with row stride " + ld);
        }
    }

    @Override
    public String toString() {
        return (readOnly ? "read-only host matrix " : "host matrix ") + rows + "x" + cols;
    }
}
