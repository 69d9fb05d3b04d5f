package io.vq4j.cli;

import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;
import io.vq4j.eval.TextInput;
import io.vq4j.quant.calib.CalibrationTokens;
import io.vq4j.tokenizer.Tokenizer;
import io.vq4j.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Tokenize a text (with BOS) as `vq eval ppl` does; write the ids as little-endian int32.",
                "With --calib-samples and --calib-len: the calibration tokens `vq quantize` would use."})
final class TokenizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--text", required = true, paramLabel = "FILE")
    Path text;
    @Option(names = "--limit-bytes", paramLabel = "N")
    long limitBytes;
    @Option(names = "--out", required = true, paramLabel = "FILE")
    Path out;
    @Option(names = "--calib-samples", paramLabel = "N",
            description = "with --calib-len: write the calibration tokens `vq quantize` takes from this text"
                    + " (N sequences of L tokens, as its --calib-samples and --calib-len)")
    int calibSamples;
    @Option(names = "--calib-len", paramLabel = "L", description = "tokens per calibration sequence (with --calib-samples)")
    int calibLen;

    @Override
    public Integer call() {
        if (!Files.exists(model.model)) {
            throw InputException.at(model.model, "no such file or directory");
        }
        Tokenizer tok = Tokenizers.forModel(model.model, model.tokenizer);
        boolean calib = calibSamples != 0 || calibLen != 0;
        if (calib && (calibSamples < 1 || calibLen < 1)) {
            throw new InputException("--calib-samples and --calib-len: give both, each at least 1 (got "
                    + calibSamples + " and " + calibLen + ")");
        }
        if (calib && limitBytes != 0) {
            throw new InputException("--limit-bytes: not with --calib-samples (calibration reads the text as"
                    + " `vq quantize` does)");
        }
        int[] ids = calib ? CalibrationTokens.read(text, tok, calibSamples, calibLen)
                : TextInput.tokens(text, limitBytes, tok);
        ByteBuffer b = ByteBuffer.allocate(ids.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int id : ids) {
            b.putInt(id);
        }
        try {
            AtomicFiles.removeTemporaries(out); // what a tokenize into the same file left when it was killed
            AtomicFiles.write(out, b.array());
        } catch (IOException e) {
            throw InputException.io(e);
        }
        spec.commandLine().getOut().println(ids.length + " tokens -> " + out);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
