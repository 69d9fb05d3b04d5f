package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.ModelLoader;
import io.vq4j.tokenizer.Llama2cTokenizer;
import io.vq4j.tokenizer.TokenizerJson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Write a model (llama2.c checkpoint or HF directory) as a Hugging Face directory:"
                + " config.json, model.safetensors, tokenizer.json, tokenizer_config.json.")
final class ConvertCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "new directory (must not exist or be empty)")
    Path out;
    @Option(names = "--dtype", paramLabel = "D", defaultValue = "f32", description = "f32, f16 or bf16 (default: ${DEFAULT-VALUE})")
    String dtype;

    @Override
    public Integer call() {
        DType d = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            case "bf16" -> DType.BF16;
            default -> throw new InputException("--dtype: must be f32, f16 or bf16, got " + dtype);
        };
        ModelLoader.LoadedModel loaded = model.load();
        HfCheckpoints.write(loaded.checkpoint(), out, d, dir -> {
            if (loaded.tokenizer() instanceof Llama2cTokenizer l2c) {
                TokenizerJson.write(l2c, dir);
            } else {
                Path src = model.tokenizer != null ? model.tokenizer : model.model.resolve("tokenizer.json");
                Files.copy(src, dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
                Path cfg = src.resolveSibling("tokenizer_config.json");
                if (Files.isRegularFile(cfg)) {
                    Files.copy(cfg, dir.resolve("tokenizer_config.json"), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        });
        spec.commandLine().getOut().println("wrote " + out);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
