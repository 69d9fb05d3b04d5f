package io.vq4j.cli;

import io.vq4j.model.ModelLoader;
import io.vq4j.pack.PackedDirectoryReader;
import java.nio.file.Path;
import java.util.function.Supplier;
import picocli.CommandLine.Option;

/** --model and --tokenizer, shared by the commands that run a model. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "Hugging Face model directory or llama2.c checkpoint (.bin)")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "tokenizer.json or llama2.c tokenizer.bin (default: found beside the model)")
    Path tokenizer;

    @Option(names = "--no-verify", description = "skip the CRC32C check of a packed model's tensors on load"
            + " (checked by default; vq inspect --verify checks them without loading)")
    boolean noVerify;

    ModelLoader.LoadedModel load() {
        return loading(() -> ModelLoader.load(model, tokenizer));
    }

    /** Runs a load of the model with the packed tensors' checksums compared unless --no-verify. */
    <T> T loading(Supplier<T> load) {
        return ScopedValue.where(PackedDirectoryReader.VERIFY, !noVerify).call(load::get);
    }
}
