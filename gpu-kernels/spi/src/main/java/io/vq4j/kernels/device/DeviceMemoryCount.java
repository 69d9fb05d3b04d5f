package io.vq4j.kernels.device;

/**
 * The device bytes a GPU backend's own buffers hold now, and the most since the last reset:
 * what {@link Backend#peakDeviceBytes()} reports.
 */
public final class DeviceMemoryCount {
    private long held;
    private long peak;

    /** Bytes allocated (positive) or released (negative). */
    public synchronized void add(long delta) {
        held += delta;
        peak = Math.max(peak, held);
    }

    public synchronized long peak() {
        return peak;
    }

    /** Starts a new peak from what is held now. */
    public synchronized void resetPeak() {
        peak = held;
    }
}
