package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.pack.PackedDirectoryReader;
import io.vq4j.pack.PackedStats;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "dequantize", mixinStandardHelpOptions = true,
        description = "Write a packed vq4j directory as a plain Hugging Face safetensors model any framework can load.")
final class DequantizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Parameters(index = "0", paramLabel = "PACKED", description = "a directory written by vq quantize")
    Path packed;
    @Parameters(index = "1", paramLabel = "OUT", description = "new directory (must not exist or be empty)")
    Path out;
    @Option(names = "--dtype", paramLabel = "D", defaultValue = "f32", description = "f32, f16 or bf16 (default: ${DEFAULT-VALUE})")
    String dtype;
    @Option(names = "--no-verify", description = "skip the CRC32C check of the packed tensors (checked by default)")
    boolean noVerify;

    @Override
    public Integer call() {
        DType d = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            case "bf16" -> DType.BF16;
            default -> throw new InputException("--dtype: must be f32, f16 or bf16, got " + dtype);
        };
        if (!Files.isDirectory(packed)) {
            throw InputException.at(packed, "is not a directory");
        }
        if (!PackedStats.isPacked(packed)) {
            throw InputException.at(packed, "is not a packed vq4j model (config.json has no vq4j quantization_config)");
        }
        LlamaCheckpoint ckpt = ScopedValue.where(PackedDirectoryReader.VERIFY, !noVerify)
                .call(() -> HfCheckpoints.read(packed));
        HfCheckpoints.write(ckpt, out, d, dir -> {
            for (String f : new String[]{"tokenizer.json", "tokenizer_config.json", "tokenizer.model"}) {
                Path p = packed.resolve(f);
                if (Files.isRegularFile(p)) {
                    Files.copy(p, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        });
        spec.commandLine().getOut().println("wrote " + out);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
