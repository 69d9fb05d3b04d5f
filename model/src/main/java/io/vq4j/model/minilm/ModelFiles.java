package io.vq4j.model.minilm;

import io.vq4j.core.InputException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * Where an encoder's two files are: the ONNX model (a file, or a jar/zip that {@code OnnxFile}
 * opens itself) and the tokenizer.json, whose bytes are read here, from a file or a zip entry.
 */
record ModelFiles(Path onnx, byte[] tokenizerJson, Path tokenizerSource) {
    static ModelFiles locate(Path path) {
        if (Files.isDirectory(path)) {
            return new ModelFiles(single(path, ".onnx"), null, null).withTokenizerIn(path);
        }
        if (!Files.isRegularFile(path)) {
            throw InputException.at(path, "no such file or directory");
        }
        try (ZipFile zip = new ZipFile(path.toFile())) {
            List<? extends ZipEntry> jsons = zip.stream()
                    .filter(e -> !e.isDirectory() && e.getName().endsWith("tokenizer.json")).toList();
            if (jsons.size() != 1) {
                throw InputException.at(path, "a zip/jar must hold exactly one *tokenizer.json entry; it holds "
                        + jsons.size());
            }
            try (InputStream in = zip.getInputStream(jsons.getFirst())) {
                return new ModelFiles(path, in.readAllBytes(), Path.of(path + "!/" + jsons.getFirst().getName()));
            }
        } catch (ZipException e) {
            // not a zip: an .onnx file with the tokenizer beside it
            return new ModelFiles(path, null, null).withTokenizerIn(path.toAbsolutePath().getParent());
        } catch (IOException e) {
            throw InputException.at(path, "cannot read: " + e.getMessage());
        }
    }

    private ModelFiles withTokenizerIn(Path dir) {
        Path json = dir.resolve("tokenizer.json");
        if (!Files.isRegularFile(json)) {
            json = single(dir, "tokenizer.json");
        }
        try {
            return new ModelFiles(onnx, Files.readAllBytes(json), json);
        } catch (IOException e) {
            throw InputException.at(json, "cannot read: " + e.getMessage());
        }
    }

    private static Path single(Path dir, String suffix) {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> found = files.filter(p -> p.getFileName().toString().endsWith(suffix) && Files.isRegularFile(p))
                    .sorted().toList();
            if (found.size() != 1) {
                throw InputException.at(dir, "expected exactly one *" + suffix + " file here, found " + found.size()
                        + (found.isEmpty() ? "" : ": " + found.stream().map(p -> p.getFileName().toString()).toList()));
            }
            return found.getFirst();
        } catch (IOException e) {
            throw InputException.at(dir, "cannot list: " + e.getMessage());
        }
    }
}
