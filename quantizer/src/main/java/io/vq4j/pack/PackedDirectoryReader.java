package io.vq4j.pack;

import io.vq4j.core.InputException;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.model.PackedLayerReader;

/**
 * The vq4j packed format as the model loader sees it: a layer whose layout JSON is in a
 * shard's metadata ({@link PackedLayers#META_PREFIX}) is read, checked against the shape the
 * config implies, and handed over: the {@link PackedMatrix} the format reads is the one the
 * kernels take. Registered for {@link java.util.ServiceLoader} in META-INF/services.
 *
 * <p>Each tensor's CRC32C (format 2) is checked on load unless the load runs where
 * {@link #VERIFY} is bound to false ({@code --no-verify} in the CLI).
 */
public final class PackedDirectoryReader implements PackedLayerReader {
    /** Whether loads compare each packed tensor with its recorded CRC32C; true where unbound. */
    public static final ScopedValue<Boolean> VERIFY = ScopedValue.newInstance();

    @Override
    public PackedMatrix read(SafeTensorsDirectory st, String name, int rows, int cols) {
        for (SafeTensorsFile f : st.files()) {
            String layout = f.metadata().get(PackedLayers.META_PREFIX + name);
            if (layout == null) {
                continue;
            }
            PackedMatrix q;
            try {
                q = PackedLayers.read(name, layout, PackedLayers.TensorSource.of(st), VERIFY.orElse(true));
            } catch (IllegalArgumentException e) {
                throw InputException.at(f.path(), e.getMessage());
            }
            if (q.rows() != rows || q.cols() != cols) {
                throw InputException.at(f.path(), "packed layer '" + name + "' is " + q.rows() + "x" + q.cols()
                        + " but config.json implies " + rows + "x" + cols);
            }
            return q;
        }
        return null;
    }

    @Override
    public boolean owns(String tensor) {
        return tensor.startsWith(PackedLayers.SHARED_PREFIX);
    }
}
