package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.eval.sweep.Sweep;
import io.vq4j.kernels.Backend;
import io.vq4j.quant.SourceModel;
import io.vq4j.tokenizer.Tokenizer;
import io.vq4j.tokenizer.Tokenizers;
import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The options `vq sweep` and `vq experiment` share: model, texts, output, device and sample counts. */
final class SweepOptions {
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--calib", required = true, paramLabel = "FILE", description = "calibration text (UTF-8)")
    Path calib;
    @Option(names = "--text", required = true, paramLabel = "FILE", description = "evaluation text (UTF-8)")
    Path text;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output directory (new, or one to resume)")
    Path out;
    @Mixin
    DeviceOption device = new DeviceOption();
    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "seed (default: ${DEFAULT-VALUE})")
    long seed;
    @Option(names = "--calib-samples", defaultValue = "128", paramLabel = "N", description = "calibration sequences (default: ${DEFAULT-VALUE})")
    int calibSamples;
    @Option(names = "--calib-len", defaultValue = "0", paramLabel = "L", description = "tokens per sequence (default: min(512, the model's max))")
    int calibLen;
    @Option(names = "--ctx", defaultValue = "0", paramLabel = "N", description = "evaluation window (default: the model's max sequence length)")
    int ctx;
    @Option(names = "--limit-bytes", defaultValue = "0", paramLabel = "N", description = "use only the first N bytes of --text")
    long limitBytes;
    @Option(names = "--real-samples", defaultValue = "4", paramLabel = "N",
            description = "calibration sequences whose activations feed the per-tensor real-input metrics (default: ${DEFAULT-VALUE})")
    int realSamples;
    @Option(names = "--random-rows", defaultValue = "256", paramLabel = "N",
            description = "Gaussian input rows for the per-tensor random-input metrics (default: ${DEFAULT-VALUE})")
    int randomRows;

    Backend openBackend(PrintWriter err) {
        if (limitBytes < 0) {
            throw new InputException("--limit-bytes: must be >= 0, got " + limitBytes);
        }
        checkCalibLen(calibLen);
        return device.openBackend(err);
    }

    Sweep.Options options(Tokenizer tok) {
        return options(tok, 1);
    }

    /** With {@code seeds} runs of each configuration (seeds --seed, --seed + 1, ...). */
    Sweep.Options options(Tokenizer tok, int seeds) {
        return new Sweep.Options(model.model, calib, text, limitBytes, tok, calibSamples, calibLen, ctx, seed, seeds,
                realSamples, randomRows, out);
    }

    /** --calib-len of quantize and sweep: 0 picks the default; a negative length is no length (it read as 0). */
    static void checkCalibLen(int calibLen) {
        if (calibLen < 0) {
            throw new InputException("--calib-len: must be 0 (the default: min(512, the model's max)) or at least 2,"
                    + " got " + calibLen);
        }
    }

    /** The model's tokenizer, refused when its vocabulary is not the model's. */
    static Tokenizer tokenizer(ModelOptions model, SourceModel source) {
        Tokenizer tok = Tokenizers.forModel(model.model, model.tokenizer);
        if (tok.vocabSize() != source.config().vocabSize()) {
            throw InputException.at(model.model, "the tokenizer has " + tok.vocabSize()
                    + " tokens but the model's vocabulary is " + source.config().vocabSize());
        }
        return tok;
    }
}
