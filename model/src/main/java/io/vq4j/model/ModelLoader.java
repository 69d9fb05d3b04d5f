package io.vq4j.model;

import io.vq4j.core.InputException;
import io.vq4j.io.gguf.GgufFile;
import io.vq4j.kernels.Backend;
import io.vq4j.model.Llama2cCheckpoint;
import io.vq4j.tokenizer.Tokenizer;
import io.vq4j.tokenizer.Tokenizers;

import java.nio.file.Files;
import java.nio.file.Path;

/** Opens what a user names with --model: a Hugging Face directory, a GGUF file (.gguf) or a llama2.c checkpoint. */
public final class ModelLoader {
    private ModelLoader() {
    }

    public record LoadedModel(LlamaCheckpoint checkpoint, Tokenizer tokenizer) {
        public LlamaModel model() {
            return LlamaModel.of(checkpoint);
        }
    }

    public static LoadedModel load(Path model, Path tokenizer) {
        return load(model, tokenizer, null);
    }

    /** @param packedOn a backend to keep packed layers on (see {@link HfCheckpoints#read(Path, io.vq4j.kernels.Backend)}), or null */
    public static LoadedModel load(Path model, Path tokenizer, Backend packedOn) {
        if (!Files.exists(model)) {
            throw InputException.at(model, "no such file or directory");
        }
        Tokenizer tok = Tokenizers.forModel(model, tokenizer);
        LlamaCheckpoint ckpt = Files.isDirectory(model) ? HfCheckpoints.read(model, packedOn)
                : GgufFile.isGguf(model) ? GgufCheckpoint.read(model) : Llama2cCheckpoint.read(model);
        if (tok.vocabSize() != ckpt.config().vocabSize()) {
            throw InputException.at(model, "the tokenizer has " + tok.vocabSize() + " tokens but the model's vocabulary is "
                    + ckpt.config().vocabSize());
        }
        return new LoadedModel(ckpt, tok);
    }
}
