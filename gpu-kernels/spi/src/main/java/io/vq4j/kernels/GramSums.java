package io.vq4j.kernels;

/**
 * The double sums of a Gram XᵀX (dim × dim, the lower triangle, as
 * {@link Backend#accumulateGram(float[], int, int, double[]) accumulateGram} adds them) kept where a
 * backend computes them, from the first batch to the last: a device holds them in its memory, so
 * a layer's calibration moves each batch of inputs in (none, for a resident matrix of the same
 * backend) and the sums out once, not dim² doubles in and out a batch. The same sums, in the same
 * order, as accumulateGram into a host array on every backend. Made by {@link Backend#gramSums};
 * {@link #take()} hands the sums to the host and ends them; {@link #close()} ends them without
 * (a run that stops early). Not thread-safe.
 */
public interface GramSums extends AutoCloseable {
    /** The width of the inputs, and of the square the sums fill. */
    int dim();

    /** Adds rows input vectors (x rows × dim, row-major). */
    void add(float[] x, int rows);

    /** Adds the first rows rows of a resident matrix (dim columns) of the backend that made these sums. */
    void add(ResidentMatrix x, int rows);

    /**
     * The sums in a new host array (dim × dim: the lower triangle; the strict upper triangle zero);
     * after this, every call but {@link #close()} is refused (IllegalStateException).
     */
    double[] take();

    /** Lets go of the sums (their device memory); idempotent. */
    @Override
    void close();

    /** Sums in a host array, each batch through {@code backend}'s accumulateGram: the default of {@link Backend#gramSums}. */
    static GramSums onHost(Backend backend, int dim) {
        return new OnHost(backend, dim);
    }

    /** {@link #onHost}. */
    final class OnHost implements GramSums {
        private final Backend backend;
        private final int dim;
        private double[] sums;

        private OnHost(Backend backend, int dim) {
            if (dim < 0) {
                throw new IllegalArgumentException("gramSums: width " + dim);
            }
            this.backend = backend;
            this.dim = dim;
            this.sums = new double[Math.multiplyExact(dim, dim)];
        }

        @Override
        public int dim() {
            return dim;
        }

        @Override
        public void add(float[] x, int rows) {
            backend.accumulateGram(x, rows, dim, live());
        }

        @Override
        public void add(ResidentMatrix x, int rows) {
            if (x.cols() != dim) {
                throw new IllegalArgumentException("Gram sums of width " + dim + ", inputs of " + x.cols());
            }
            backend.accumulateGram(x, rows, live());
        }

        @Override
        public double[] take() {
            double[] s = live();
            sums = null;
            return s;
        }

        private double[] live() {
            if (sums == null) {
                throw new IllegalStateException("these Gram sums were taken or closed");
            }
            return sums;
        }

        @Override
        public void close() {
            sums = null;
        }
    }
}
