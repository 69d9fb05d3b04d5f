package io.vq4j.cli;

import io.vq4j.model.ModelLoader;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** --model and --tokenizer, shared by the commands that run a model. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "Hugging Face model directory or llama2.c checkpoint (.bin)")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "tokenizer.json or llama2.c tokenizer.bin (default: found beside the model)")
    Path tokenizer;

    ModelLoader.LoadedModel load() {
        return ModelLoader.load(model, tokenizer);
    }
}
