package io.vq4j.kernels.device;

/**
 * How a GPU backend splits a call whose buffers would not fit: the bytes one call may hold on
 * the device beyond the packed uploads ({@code callBytes}) and the largest single buffer the
 * device allows ({@code maxBuffer}). Inputs are processed in tiles of whole items (vectors,
 * input rows) that fit both; tiles never change the bits of a result, because every item is
 * computed alone and sums keep their fixed partials.
 */
public record DeviceBudget(long callBytes, long maxBuffer) {
    public DeviceBudget {
        if (callBytes < 1 || maxBuffer < 1) {
            throw new IllegalArgumentException("device budget must be positive: " + callBytes + ", " + maxBuffer);
        }
    }

    /**
     * Items per tile: the most that fit beside {@code fixedBytes} at {@code bytesPerItem}
     * each, with no buffer over maxBuffer ({@code largestPerItem} bytes per item in the largest
     * buffer), as a multiple of {@code multiple} when that many fit, and never more than
     * {@code items}. Throws, naming {@code what}, when not even one item fits.
     */
    public long itemsPerTile(long items, long fixedBytes, long bytesPerItem, long largestPerItem, long multiple,
                             String what) {
        long room = callBytes - fixedBytes;
        long fit = Math.min(room / Math.max(1, bytesPerItem), maxBuffer / Math.max(1, largestPerItem));
        if (fit < 1) {
            throw new IllegalStateException(what + " does not fit the device: " + fixedBytes + " bytes before the"
                    + " first item, " + bytesPerItem + " per item, " + callBytes + " allowed per call");
        }
        if (fit >= items) {
            return items;
        }
        return fit >= multiple ? fit / multiple * multiple : fit;
    }
}
