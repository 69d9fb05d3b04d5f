package io.vq4j.tokenizer;

import io.vq4j.core.InputException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Finds and opens the tokenizer that belongs to a model. */
public final class Tokenizers {
    private Tokenizers() {
    }

    /**
     * An explicit tokenizer file wins (tokenizer.json, else the llama2.c format); a model
     * directory uses its tokenizer.json (or tokenizer.bin); a llama2.c checkpoint file uses
     * tokenizer.bin beside it, else the single tok*.bin beside it.
     */
    public static Tokenizer forModel(Path model, Path explicit) {
        if (explicit != null) {
            return open(explicit);
        }
        if (Files.isDirectory(model)) {
            for (String name : new String[] {"tokenizer.json", "tokenizer.bin"}) {
                if (Files.isRegularFile(model.resolve(name))) {
                    return open(model.resolve(name));
                }
            }
            throw InputException.at(model, "no tokenizer.json or tokenizer.bin in the model directory; pass --tokenizer FILE");
        }
        Path dir = model.toAbsolutePath().getParent();
        if (Files.isRegularFile(dir.resolve("tokenizer.bin"))) {
            return open(dir.resolve("tokenizer.bin"));
        }
        List<Path> found = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "tok*.bin")) {
            s.forEach(found::add);
        } catch (IOException e) {
            throw InputException.at(dir, "cannot list: " + e.getMessage());
        }
        if (found.size() == 1) {
            return open(found.get(0));
        }
        throw InputException.at(model, (found.isEmpty() ? "no tokenizer found beside it"
                : "several tok*.bin files beside it") + "; pass --tokenizer FILE");
    }

    public static Tokenizer open(Path file) {
        if (!Files.isRegularFile(file)) {
            throw InputException.at(file, "no such tokenizer file");
        }
        if (file.getFileName().toString().endsWith(".json")) {
            return HfTokenizer.read(file);
        }
        return Llama2cTokenizer.read(file);
    }
}
