package io.vq4j.kernels.device;

import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.device.Tiles.Tile;

/**
 * How a GPU backend's M-step sums: {@code count} partials of {@code vectors} vectors each, then
 * one pass that adds them in order. The partials are the CPU backend's ({@link #VECTORS}), so the
 * sums are its bits, unless their arrays would not fit {@link #BYTES}; then bigger partials, still
 * in a fixed order. The tiles hold whole partials, so a tiled call sums as one call.
 */
public record Partials(int vectors, int count, Tiles tiles) {
    /** Vectors per partial, as the CPU backend. */
    public static final int VECTORS = CpuBackend.PARTIAL;
    /** Bytes the partials may take on the device. */
    public static final long BYTES = 256L << 20;

    /** Vectors per partial for {@code n} vectors summed into {@code kd} sums (and as many weight sums). */
    static int vectorsPer(int n, long kd) {
        long most = Math.max(1, BYTES / (2 * kd * Double.BYTES));
        int vectors = VECTORS;
        if ((n + vectors - 1L) / vectors > most) {
            vectors = (int) ((n + most - 1) / most);
        }
        return vectors;
    }

    /** Index of the first partial of {@code t}. */
    public int first(Tile t) {
        return t.from() / vectors;
    }

    /** Partials in {@code t}. */
    public int in(Tile t) {
        return (t.count() + vectors - 1) / vectors;
    }
}
