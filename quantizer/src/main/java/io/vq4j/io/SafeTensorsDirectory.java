package io.vq4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vq4j.core.InputException;
import java.io.IOException;
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

    private final Map<String, SafeTensorsFile> byTensor = new LinkedHashMap<>();
    private final List<SafeTensorsFile> files = new ArrayList<>();

    public static SafeTensorsDirectory open(Path dir) {
        SafeTensorsDirectory d = new SafeTensorsDirectory();
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
        } catch (IOException e) {
            throw InputException.at(index, "is not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw InputException.at(index, "has no weight_map object");
        }
        Map<String, SafeTensorsFile> shards = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
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

    public SafeTensorsFile fileOf(String name) {
        return byTensor.get(name);
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
