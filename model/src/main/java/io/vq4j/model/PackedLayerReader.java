package io.vq4j.model;

import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.kernels.packed.PackedMatrix;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * Reads a linear layer that a checkpoint directory stores in a packed (quantized) format
 * instead of as a dense {@code .weight} tensor. The format itself belongs to the quantizer
 * module, which registers its reader through {@link ServiceLoader}
 * (META-INF/services/io.vq4j.model.PackedLayerReader); the model module only knows that a
 * packed layer decodes to a {@link PackedMatrix}.
 */
public interface PackedLayerReader {
    /**
     * The packed form of layer {@code name} (the tensor name without ".weight"), or null when
     * {@code st} does not hold it in this format. A layer that is there but malformed, or not
     * {@code rows x cols}, is an {@link io.vq4j.core.InputException} naming the file.
     */
    PackedMatrix read(SafeTensorsDirectory st, String name, int rows, int cols);

    /**
     * Whether a tensor belongs to the format as a whole rather than to one layer (e.g. codebooks
     * shared by several layers), so a directory may hold it although no layer is named after it.
     */
    default boolean owns(String tensor) {
        return false;
    }

    /** The readers on the class path, in class-path order. */
    static List<PackedLayerReader> installed() {
        List<PackedLayerReader> out = new ArrayList<>();
        try {
            ServiceLoader.load(PackedLayerReader.class).forEach(out::add);
        } catch (ServiceConfigurationError e) {
            // no readable reader list: no packed formats
        }
        return out;
    }
}
