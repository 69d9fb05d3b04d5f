package io.vq4j.cli;

import io.vq4j.pack.PackedStats;
import io.vq4j.core.InputException;
import io.vq4j.kernels.Backend;
import io.vq4j.quant.QuantOptions;
import io.vq4j.quant.job.QuantizeJob;
import io.vq4j.quant.SourceModel;
import io.vq4j.quant.method.MethodOption;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.tokenizer.Tokenizer;
import io.vq4j.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * `vq quantize`. The method options (and the method list in the help) come from the registry:
 * {@link RegistryOptions} declares them when picocli builds the command.
 */
@Command(name = "quantize", mixinStandardHelpOptions = true, modelTransformer = RegistryOptions.class)
final class QuantizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--calib", required = true, paramLabel = "FILE", description = "calibration text (UTF-8)")
    Path calib;
    @Option(names = "--method", required = true, paramLabel = "M", description = "(the registry's methods)")
    String method;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output directory (new, or an unfinished run to resume)")
    Path out;
    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "seed (default: ${DEFAULT-VALUE})")
    long seed;
    @Mixin
    DeviceOption device = new DeviceOption();
    @Option(names = "--calib-samples", defaultValue = "128", paramLabel = "N", description = "calibration sequences (default: ${DEFAULT-VALUE})")
    int calibSamples;
    @Option(names = "--calib-len", defaultValue = "0", paramLabel = "L", description = "tokens per sequence (default: min(512, the model's max))")
    int calibLen;

    /** The method options as given, from the registry's option list ({@link RegistryOptions}). */
    QuantSpec buildSpec() {
        Map<String, Object> given = new LinkedHashMap<>();
        for (MethodOption<?> o : QuantOptions.all()) {
            Object v = spec.findOption(o.name()).getValue();
            given.put(o.name(), v instanceof List<?> l ? List.copyOf(l) : v);
        }
        return QuantOptions.build(method, given);
    }

    @Override
    public Integer call() {
        SweepOptions.checkCalibLen(calibLen);
        QuantSpec s = buildSpec();
        PrintWriter outw = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        boolean tty = System.console() != null;
        try (Backend backend = device.openBackend(err); SourceModel source = SourceModel.open(model.model)) {
            Tokenizer tok = SweepOptions.tokenizer(model, source);
            var opts = new QuantizeJob.Options(model.model, calib, tok, s, calibSamples, calibLen, seed, out);
            QuantizeJob.Result r = QuantizeJob.run(source, opts, backend, new QuantizeJob.Listener() {
                int lastBlock = -1;

                @Override
                public void progress(int block, int blocks, int layer, int layers, String name) {
                    int doneLayers = block * layers + layer;
                    int total = blocks * layers;
                    int width = 30;
                    int filled = width * doneLayers / total;
                    String bar = "[" + "#".repeat(filled) + ".".repeat(width - filled) + "]";
                    if (tty) {
                        err.printf("\r%s block %d/%d  %-18s", bar, block + 1, blocks, name);
                        err.flush();
                    } else if (block != lastBlock) {
                        err.printf("%s block %d/%d%n", bar, block + 1, blocks);
                        err.flush();
                    }
                    lastBlock = block;
                }

                @Override
                public void layer(QuantizeJob.LayerReport l) {
                    if (tty) {
                        err.print("\r" + " ".repeat(70) + "\r");
                        err.flush();
                    }
                    outw.printf(Locale.ROOT, "%-36s %5dx%-5d %-6s true %.3f bpw  H-err %.4g (rel %.3g)  %.2fs%n",
                            l.name(), l.rows(), l.cols(), l.method(), l.trueBitsPerWeight(), l.hessianError(),
                            l.relativeError(), l.seconds());
                    outw.flush();
                }

                @Override
                public void info(String line) {
                    err.println("vq: " + line);
                    err.flush();
                }
            });
            PackedStats.Stats st = PackedStats.of(r.out());
            outw.printf(Locale.ROOT, "wrote %s: %d layers, true %.4f bits/weight over the quantized layers (every byte"
                    + " of the files but the unquantized tensors' data%s), %.1fs%n", r.out(), r.layers().size(),
                    st.trueBitsPerWeight(), st.sharedCodebookBytes() > 0
                            ? String.format(Locale.ROOT, "; shared codebooks %,d bytes", st.sharedCodebookBytes()) : "",
                    r.seconds());
            outw.flush();
        }
        return 0;
    }
}
