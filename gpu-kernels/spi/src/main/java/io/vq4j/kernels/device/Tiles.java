package io.vq4j.kernels.device;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * {@code items} (vectors, input rows) split in order into tiles of {@code size}, the last one
 * shorter: what a GPU backend runs per launch when a whole call would not fit its budget
 * ({@link GpuBackend}). One tile when everything fits.
 */
public record Tiles(int items, int size) implements Iterable<Tiles.Tile> {
    public Tiles {
        if (items < 0 || size < 1) {
            throw new IllegalArgumentException("tiles of " + size + " over " + items + " items");
        }
    }

    /** Items {@code [from, from + count)}. */
    public record Tile(int from, int count) {
    }

    @Override
    public Iterator<Tile> iterator() {
        return new Iterator<>() {
            private int from;

            @Override
            public boolean hasNext() {
                return from < items;
            }

            @Override
            public Tile next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                Tile t = new Tile(from, Math.min(size, items - from));
                from += t.count();
                return t;
            }
        };
    }
}
