package io.vq4j.pack;

import io.vq4j.core.InputException;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.kernels.packed.PackedMatrix;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Bits per weight of a packed directory, counted on the files.
 * <ul>
 *   <li>per layer: the bytes of its tensors (indices, codebooks, scales, perm, norm, outliers)
 *       and of its layout record, × 8 / its weights;</li>
 *   <li>{@code trueBitsPerWeight}: every byte of the safetensors files (headers, metadata,
 *       alignment included) except the data of tensors that are not quantized (embedding,
 *       norms, biases, lm_head), × 8 / the quantized weights — so all overhead is charged to
 *       the quantized layers;</li>
 *   <li>{@code modelBitsPerParameter}: every byte of the safetensors files, the index and
 *       config.json, × 8 / all parameters.</li>
 * </ul>
 */
public final class PackedStats {
    private PackedStats() {
    }

    /** @param format the layout's format: 2 records a CRC32C per tensor, 1 none */
    public record Layer(String name, String method, int rows, int cols, double nominalBitsPerWeight, long bytes,
                        String file, int format) {
        public double trueBitsPerWeight() {
            return bytes * 8.0 / ((long) rows * cols);
        }
    }

    /**
     * @param sharedCodebookBytes data bytes of the codebooks several layers share (stored once;
     *                            part of {@link #trueBitsPerWeight}, not of any {@link Layer})
     */
    public record Stats(List<Layer> layers, long quantizedWeights, long fileBytes, long unquantizedDataBytes,
                        long parameters, long modelFileBytes, double nominalBitsPerWeight, long sharedCodebookBytes) {
        public double trueBitsPerWeight() {
            return (fileBytes - unquantizedDataBytes) * 8.0 / quantizedWeights;
        }

        public double modelBitsPerParameter() {
            return modelFileBytes * 8.0 / parameters;
        }
    }

    public static boolean isPacked(Path dir) {
        return Files.isRegularFile(dir.resolve("config.json")) && readConfigText(dir).contains("\"vq4j\"");
    }

    private static String readConfigText(Path dir) {
        try {
            return Files.readString(dir.resolve("config.json"));
        } catch (IOException e) {
            throw InputException.at(dir.resolve("config.json"), "cannot read: " + e.getMessage());
        }
    }

    /** The stats of a packed directory, reading each layer without comparing its checksums. */
    public static Stats of(Path dir) {
        return of(dir, false);
    }

    /**
     * The stats of a packed directory; with {@code verify}, every tensor of a format-2 layer must
     * match its CRC32C (a mismatch is an InputException naming the file and the tensor).
     */
    public static Stats of(Path dir, boolean verify) {
        List<Layer> layers = new ArrayList<>();
        Set<String> quantizedTensors = new HashSet<>();
        long fileBytes = 0;
        long unquantized = 0;
        long parameters = 0;
        long quantizedWeights = 0;
        double nominalBits = 0;
        long shared = 0;
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(dir)) {
            // tensor names are unique across the shards, so one source over all of them serves every layer
            PackedLayers.TensorSource all = PackedLayers.TensorSource.of(st.files().toArray(SafeTensorsFile[]::new));
            for (SafeTensorsFile f : st.files()) {
                for (String t : f.names()) {
                    if (t.startsWith(PackedLayers.SHARED_PREFIX)) { // quantization overhead, counted once
                        quantizedTensors.add(t);
                        shared += f.info(t).bytes();
                    }
                }
            }
            for (SafeTensorsFile f : st.files()) {
                for (var e : f.metadata().entrySet()) {
                    if (!e.getKey().startsWith(PackedLayers.META_PREFIX)) {
                        continue;
                    }
                    String name = e.getKey().substring(PackedLayers.META_PREFIX.length());
                    PackedMatrix q;
                    try {
                        q = PackedLayers.read(name, e.getValue(), all, verify);
                    } catch (IllegalArgumentException ex) {
                        throw InputException.at(f.path(), ex.getMessage());
                    }
                    long bytes = e.getValue().getBytes(StandardCharsets.UTF_8).length;
                    for (String t : f.names()) {
                        if (t.startsWith(name + ".") && !t.equals(name + ".bias")) {
                            bytes += f.info(t).bytes();
                            quantizedTensors.add(t);
                        }
                    }
                    double nominal = PackedLayers.nominalBitsPerWeight(q);
                    layers.add(new Layer(name, q.method(), q.rows(), q.cols(), nominal, bytes,
                            f.path().getFileName().toString(), PackedLayers.format(e.getValue())));
                    quantizedWeights += q.weights();
                    nominalBits += nominal * q.weights();
                }
            }
            for (SafeTensorsFile f : st.files()) {
                fileBytes += Files.size(f.path());
                for (String t : f.names()) {
                    if (!quantizedTensors.contains(t)) {
                        unquantized += f.info(t).bytes();
                        parameters += f.info(t).elements();
                    }
                }
            }
        } catch (IOException e) {
            throw InputException.at(dir, "cannot read: " + e.getMessage());
        }
        parameters += quantizedWeights;
        long modelBytes = fileBytes;
        try {
            modelBytes += Files.size(dir.resolve("config.json"));
            if (Files.isRegularFile(dir.resolve(SafeTensorsDirectory.INDEX))) {
                modelBytes += Files.size(dir.resolve(SafeTensorsDirectory.INDEX));
            }
        } catch (IOException e) {
            throw InputException.at(dir, "cannot read: " + e.getMessage());
        }
        return new Stats(List.copyOf(layers), quantizedWeights, fileBytes, unquantized, parameters, modelBytes,
                quantizedWeights == 0 ? 0 : nominalBits / quantizedWeights, shared);
    }
}
