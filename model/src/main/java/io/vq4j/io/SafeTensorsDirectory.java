package io.vq4j.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.core.InputException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors of a checkpoint directory: {@code model.safetensors}, or shards listed by
 * {@code model.safetensors.index.json} ({@code weight_map}: tensor → shard file).
 */
public final class SafeTensorsDirectory implements AutoCloseable {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private final Path dir;
    private final Map<String, SafeTensorsFile> byTensor = new LinkedHashMap<>();
    private final List<SafeTensorsFile> files = new ArrayList<>();

    private SafeTensorsDirectory(Path dir) {
        this.dir = dir;
    }

    public static SafeTensorsDirectory open(Path dir) {
        SafeTensorsDirectory d = new SafeTensorsDirectory(dir);
        try {
            Path index = dir.resolve(INDEX);
            if (Files.isRegularFile(index)) {
                d.openIndexed(dir, index);
            } else if (Files.isRegularFile(dir.resolve(SINGLE))) {
                SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(SINGLE));
                d.files.add(f);
                f.tensors().keySet().forEach(n -> d.byTensor.put(n, f));
            } else {
                throw InputException.at(dir, "has neither " + SINGLE + " nor " + INDEX);
            }
            return d;
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    private void openIndexed(Path dir, Path index) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(index.toFile());
        } catch (JsonProcessingException e) {
            throw InputException.at(index, "is not valid JSON: " + SafeTensorsFile.oneLine(e.getOriginalMessage()));
        } catch (IOException e) {
            throw InputException.at(index, "cannot read: " + e.getMessage());
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw InputException.at(index, "has no weight_map object");
        }
        Map<String, SafeTensorsFile> shards = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw InputException.at(index, "weight_map entry for tensor '" + SafeTensorsFile.oneLine(e.getKey())
                        + "' is not a file name string");
            }
            String shard = e.getValue().asText();
            if (shard.contains("/") || shard.contains("\\") || shard.startsWith(".")) {
                throw InputException.at(index, "shard name '" + shard + "' is not a plain file name");
            }
            SafeTensorsFile f = shards.get(shard);
            if (f == null) {
                Path p = dir.resolve(shard);
                if (!Files.isRegularFile(p)) {
                    throw InputException.at(index, "names shard '" + shard + "' for tensor '" + e.getKey()
                            + "', but " + p + " does not exist");
                }
                f = SafeTensorsFile.open(p);
                shards.put(shard, f);
                files.add(f);
            }
            if (!f.contains(e.getKey())) {
                throw InputException.at(f.path(), "has no tensor '" + e.getKey() + "', which " + INDEX + " places there");
            }
            byTensor.put(e.getKey(), f);
        }
    }

    public boolean contains(String name) {
        return byTensor.containsKey(name);
    }

    /** The file holding {@code name}, or null. */
    public SafeTensorsFile fileOf(String name) {
        return byTensor.get(name);
    }

    private SafeTensorsFile require(String name) {
        SafeTensorsFile f = byTensor.get(name);
        if (f == null) {
            throw InputException.at(dir, "has no tensor '" + SafeTensorsFile.oneLine(name) + "'");
        }
        return f;
    }

    public SafeTensorsFile.TensorInfo info(String name) {
        return require(name).info(name);
    }

    /** The tensor's bytes, zero-copy, from whichever shard holds it. */
    public MemorySegment data(String name) {
        return require(name).data(name);
    }

    /** See {@link SafeTensorsFile#floats}. */
    public float[] floats(String name) {
        return require(name).floats(name);
    }

    public List<SafeTensorsFile> files() {
        return files;
    }

    /** Tensor names in index (or header) order. */
    public Iterable<String> names() {
        return byTensor.keySet();
    }

    @Override
    public void close() {
        files.forEach(SafeTensorsFile::close);
    }
}
