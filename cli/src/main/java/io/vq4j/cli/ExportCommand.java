package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.export.gguf.GgufExport;
import io.vq4j.export.gguf.GridCalibration;
import io.vq4j.export.gguf.GridGptq;
import io.vq4j.io.gguf.GgmlType;
import io.vq4j.kernels.Backend;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.ModelLoader;
import io.vq4j.tokenizer.GgufVocab;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Write a model (llama2.c checkpoint, HF directory, packed vq4j directory or GGUF) in a format"
                + " other engines load: --format gguf writes a Llama GGUF v3 file that llama.cpp runs. --method rtn"
                + " rounds as llama.cpp's own quantizer does; --method gptq quantizes every decoder linear straight"
                + " onto the type's grid with GPTQ's error feedback, calibrated on --calib.")
final class ExportCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--format", paramLabel = "F", defaultValue = "gguf",
            description = "gguf; vptq: a VPTQ checkpoint directory (transformers' quant_method \"vptq\") from a"
                    + " --method vptq packed model; gptq: a GPTQ checkpoint directory from a packed --method gptq/rtn"
                    + " model; both written to --out DIR (default: ${DEFAULT-VALUE})")
    String format;
    @Option(names = "--checkpoint-format", paramLabel = "F", defaultValue = "gptq",
            description = "gptq: gptq (v1, qzeros hold zero - 1) or gptq_v2 (GPTQModel's) (default: ${DEFAULT-VALUE})")
    String checkpointFormat;
    @Option(names = "--type", paramLabel = "T",
            description = "f32, f16, q8_0, q5_0, q4_0, q4_1, q4_K or q6_K: how the 2-D weights are stored (rows"
                    + " that are not whole blocks fall back as llama.cpp's quantizer does: q4_K to q5_0, q6_K to"
                    + " q8_0, 32-value types to f16; norms stay f32)")
    String type;
    @Option(names = "--out", required = true, paramLabel = "FILE.gguf", description = "the file to write (replaced)")
    Path out;
    @Option(names = "--method", paramLabel = "M", defaultValue = "rtn",
            description = "rtn (llama.cpp's reference rounding, quantize_row_*_ref) or gptq (error feedback onto the"
                    + " type's grid; needs --calib; the embedding keeps rtn) (default: ${DEFAULT-VALUE})")
    String method;
    @Option(names = "--calib", paramLabel = "FILE", description = "gptq: calibration text (UTF-8)")
    Path calib;
    @Option(names = "--calib-samples", defaultValue = "128", paramLabel = "N",
            description = "gptq: calibration sequences (default: ${DEFAULT-VALUE})")
    int calibSamples;
    @Option(names = "--calib-len", defaultValue = "0", paramLabel = "L",
            description = "gptq: tokens per sequence (default: min(512, the model's max))")
    int calibLen;
    @Option(names = "--block-size", defaultValue = "128", paramLabel = "B",
            description = "gptq: lazy-update width, rounded up to whole blocks of the type (default: ${DEFAULT-VALUE})")
    int blockSize;
    @Option(names = "--percdamp", defaultValue = "0.01", paramLabel = "X",
            description = "gptq: Hessian damping (default: ${DEFAULT-VALUE})")
    double percdamp;
    @Option(names = "--seed", defaultValue = "0", paramLabel = "S",
            description = "gptq: seed (default: ${DEFAULT-VALUE})")
    long seed;
    @Mixin
    DeviceOption device = new DeviceOption();

    @Override
    public Integer call() throws IOException {
        if (format.equalsIgnoreCase("vptq")) {
            return VptqExportCommand.run(this);
        }
        if (format.equalsIgnoreCase("gptq")) {
            return GptqExportRun.run(this, spec.commandLine().getOut());
        }
        if (!format.equalsIgnoreCase("gguf")) {
            throw new InputException("--format: must be gguf, gptq or vptq, got " + format);
        }
        if (type == null) {
            throw new InputException("--type: required with --format gguf");
        }
        GgmlType t = GgmlType.byName(type);
        if (t == null) {
            throw new InputException("--type: must be f32, f16, q8_0, q5_0, q4_0, q4_1, q4_K or q6_K, got " + type);
        }
        boolean gptq = switch (method) {
            case "rtn" -> false;
            case "gptq" -> true;
            default -> throw new InputException("--method: must be rtn or gptq, got " + method);
        };
        if (gptq && calib == null) {
            throw new InputException("--method gptq needs --calib FILE (calibration text)");
        }
        if (gptq && !t.isQuantized()) {
            throw new InputException("--method gptq needs a quantized --type (q8_0, q5_0, q4_0, q4_1, q4_K, q6_K), got "
                    + t.ggmlName());
        }
        if (!gptq && calib != null) {
            throw new InputException("--calib: only with --method gptq");
        }
        PrintWriter o = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ModelLoader.LoadedModel loaded = model.load();
        GgufVocab vocab = GgufVocab.forModel(loaded.tokenizer(), model.model, model.tokenizer);
        Map<String, GridGptq.Encoded> encoded = Map.of();
        long t0 = System.nanoTime();
        if (gptq) {
            for (LayerWeights l : loaded.checkpoint().weights().layers()) {
                if (!(l.wq() instanceof DenseLinear)) {
                    throw InputException.at(model.model, "is a packed model; --method gptq quantizes fp weights");
                }
            }
            int layers = loaded.checkpoint().config().nLayers() * 7;
            try (Backend backend = device.openBackend(err)) {
                int[] done = {0};
                encoded = GridCalibration.quantize(loaded.checkpoint(), t,
                        new GridCalibration.Options(calib, loaded.tokenizer(), calibSamples, calibLen, blockSize,
                                percdamp, seed), backend, l -> {
                            done[0]++;
                            o.printf(Locale.ROOT, "[%2d/%d] %-24s %4dx%-4d gptq onto %-5s H-err rel %.4g%n", done[0],
                                    layers, l.gguf(), l.rows(), l.cols(), l.type().ggmlName(), l.relativeError());
                            o.flush();
                        });
            }
        }
        GgufExport.Result r = GgufExport.write(loaded.checkpoint(), vocab, t, name -> t, encoded, out);
        String time = gptq ? String.format(Locale.ROOT, ", %.1fs", (System.nanoTime() - t0) / 1e9) : "";
        o.printf(Locale.ROOT, "wrote %s: GGUF v3, llama, %d tensors, %,d bytes; 2-D weights %s (%s), %.3f"
                        + " bits/value%s%n", r.file(), r.tensors().size(), r.bytes(), t.ggmlName(),
                gptq ? "gptq onto the grid" : "rtn", r.weightBitsPerValue(), time);
        Map<GgmlType, List<String>> fallbacks = r.fallbacks().stream().collect(Collectors.groupingBy(
                GgufExport.Stored::type, TreeMap::new,
                Collectors.mapping(GgufExport.Stored::name, Collectors.toList())));
        fallbacks.forEach((stored, names) -> o.printf(Locale.ROOT, "  stored as %s (rows not whole %s blocks): %s%n",
                stored.ggmlName(), t.ggmlName(), String.join(", ", names)));
        o.flush();
        return 0;
    }
}
