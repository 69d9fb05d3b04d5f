package io.vq4j.quant.job;

/**
 * A test hook for the kill-and-resume suite: started with {@code -Dvq4j.halt-at=POINT}, the
 * JVM halts itself ({@link Runtime#halt}, exit {@value #EXIT}: no shutdown hooks, no finally
 * blocks, no flushing, as a kill -9 there would) when the run reaches that point. Points:
 * {@code start} (the first checkpoint record is written), {@code block-B-shard} (block B's
 * shard is written, its record not), {@code block-B-record}, {@code partial-NAME} (a text
 * file's temporary is written, not yet renamed onto NAME), {@code finish-NAME} (NAME of the
 * finishing files is written). Unset, every point is a no-op.
 */
final class HaltPoint {
    static final String PROPERTY = "vq4j.halt-at";
    static final int EXIT = 86;
    private static final String AT = System.getProperty(PROPERTY);

    private HaltPoint() {
    }

    static void reached(String point) {
        if (AT != null && AT.equals(point)) {
            Runtime.getRuntime().halt(EXIT);
        }
    }
}
