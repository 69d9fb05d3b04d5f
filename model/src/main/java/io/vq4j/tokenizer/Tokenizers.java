package io.vq4j.tokenizer;

import io.vq4j.core.InputException;
import io.vq4j.io.gguf.GgufFile;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Finds and opens the tokenizer that belongs to a model. */
public final class Tokenizers {
    private Tokenizers() {
    }

    /**
     * The tokenizer for {@code model}: the explicit file when given (a JSON file is a
     * tokenizer.json, a .gguf file its vocabulary, anything else a llama2.c tokenizer.bin); for a
     * GGUF model the vocabulary it carries; for a model directory its
     * tokenizer.json, else its tokenizer.bin; for a llama2.c checkpoint file the tokenizer.bin
     * beside it, else the single tok*.bin beside it (stories260K.bin comes with tok512.bin).
     */
    public static Tokenizer forModel(Path model, Path explicitTokenizerOrNull) {
        if (explicitTokenizerOrNull != null) {
            Path t = explicitTokenizerOrNull;
            if (Files.isDirectory(t)) {
                Tokenizer inside = inDirectory(t);
                if (inside == null) {
                    throw InputException.at(t, "directory holds no tokenizer.json or tokenizer.bin");
                }
                return inside;
            }
            if (!Files.isRegularFile(t)) {
                throw InputException.at(t, "no such tokenizer file");
            }
            return open(t);
        }
        if (Files.isRegularFile(model) && GgufFile.isGguf(model)) {
            return GgufVocab.open(model);
        }
        if (Files.isDirectory(model)) {
            Tokenizer inside = inDirectory(model);
            if (inside != null) {
                return inside;
            }
        } else if (Files.isRegularFile(model)) {
            Path dir = model.toAbsolutePath().getParent();
            Path bin = dir.resolve("tokenizer.bin");
            if (Files.isRegularFile(bin)) {
                return Llama2cTokenizer.read(bin);
            }
            List<Path> candidates = tokBins(dir, model);
            if (candidates.size() == 1) {
                return Llama2cTokenizer.read(candidates.get(0));
            }
            if (candidates.size() > 1) {
                throw InputException.at(model, "several tokenizers beside it " + candidates.stream()
                        .map(p -> p.getFileName().toString()).sorted().toList() + "; pass --tokenizer FILE");
            }
        } else {
            throw InputException.at(model, "no such model file or directory");
        }
        throw InputException.at(model, "no tokenizer found beside it; pass --tokenizer FILE");
    }

    private static Tokenizer inDirectory(Path dir) {
        if (Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            return HfTokenizer.read(dir.resolve("tokenizer.json"));
        }
        if (Files.isRegularFile(dir.resolve("tokenizer.bin"))) {
            return Llama2cTokenizer.read(dir.resolve("tokenizer.bin"));
        }
        return null;
    }

    /** By extension, and by content for other names: JSON starts with '{' after whitespace. */
    private static Tokenizer open(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (GgufFile.isGguf(file)) {
            return GgufVocab.open(file);
        }
        return name.endsWith(".json") || (!name.endsWith(".bin") && looksLikeJson(file))
                ? HfTokenizer.read(file) : Llama2cTokenizer.read(file);
    }

    private static boolean looksLikeJson(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            int c;
            do {
                c = in.read();
            } while (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0xEF || c == 0xBB || c == 0xBF);
            return c == '{';
        } catch (IOException e) {
            throw InputException.at(file, "cannot read: " + e.getMessage());
        }
    }

    private static List<Path> tokBins(Path dir, Path model) {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "tok*.bin")) {
            for (Path p : ds) {
                if (Files.isRegularFile(p) && !p.getFileName().equals(model.getFileName())) {
                    out.add(p);
                }
            }
        } catch (IOException e) {
            throw InputException.at(dir, "cannot list: " + e.getMessage());
        }
        return out;
    }
}
