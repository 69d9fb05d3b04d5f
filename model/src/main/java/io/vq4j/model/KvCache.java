package io.vq4j.model;

import io.vq4j.core.InputException;

import java.util.Locale;

/**
 * Keys and values of every layer for positions [0, length), for incremental decoding.
 * Layout and growth are owned by {@link LlamaModel}.
 */
public final class KvCache implements AutoCloseable {
    final int capacity;
    /** The cache on a device (issue 17): the keys and values live there, the host arrays are empty. */
    final DeviceForward device;
    final float[][] keys;   // [layer][pos * kvDim + j]
    final float[][] values; // [layer][pos * kvDim + j]
    int length;

    /** A cache on the device of {@code device}, whose forward it belongs to. */
    KvCache(LlamaConfig config, DeviceForward device) {
        this.capacity = device.capacity();
        this.device = device;
        this.keys = new float[config.nLayers()][0];
        this.values = new float[config.nLayers()][0];
    }

    KvCache(LlamaConfig config, int capacity) {
        this.device = null;
        double bytes = 2.0 * config.nLayers() * capacity * config.kvDim() * Float.BYTES;
        Runtime rt = Runtime.getRuntime();
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        if (bytes > free) {
            throw new InputException(String.format(Locale.ROOT, "a KV cache of %d positions needs %.1f GiB but the JVM"
                    + " has %.1f GiB free (raise -Xmx, or use a shorter context)", capacity, bytes / 1073741824.0,
                    free / 1073741824.0));
        }
        this.capacity = capacity;
        this.keys = new float[config.nLayers()][(int) Math.multiplyExact((long) capacity, config.kvDim())];
        this.values = new float[config.nLayers()][(int) Math.multiplyExact((long) capacity, config.kvDim())];
    }

    /** Positions held so far; the next token goes at this position. */
    public int length() {
        return length;
    }

    public int capacity() {
        return capacity;
    }

    /** Forgets every position, keeping the memory. */
    public void clear() {
        length = 0;
        if (device != null) {
            device.clear();
        }
    }

    /** Whether the keys and values live on a device. */
    public boolean onDevice() {
        return device != null;
    }

    /** Releases the device memory of a device cache (and its forward's buffers); nothing for a host cache. */
    @Override
    public void close() {
        if (device != null) {
            device.close();
        }
    }
}
