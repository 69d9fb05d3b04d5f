package io.vq4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.vq4j.core.InputException;
import io.vq4j.eval.sweep.SweepSpec;
import io.vq4j.pack.PackedStats;
import io.vq4j.quant.budget.BudgetJob;
import io.vq4j.quant.budget.Candidate;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
    /** --target-bpw's default ladder: vector methods x d x k, and scalar GPTQ bit widths. */
    static final String DEFAULT_CANDIDATES = "gptq:bits=2,3,4,5,6,8,group-size=128;gptvq:dim=2,centroids=16,64,256;"
            + "gptvq:dim=4,centroids=256;vptq:dim=2,centroids=16,64,256;vptq:dim=4,centroids=256";
    @Spec
    CommandSpec spec;
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--calib", required = true, paramLabel = "FILE", description = "calibration text (UTF-8)")
    Path calib;
    @Option(names = "--method", paramLabel = "M", description = "(the registry's methods)")
    String method;
    @Option(names = "--target-bpw", paramLabel = "B",
            description = "instead of --method: a budget of true bits per weight (every byte of the files counted, as"
                    + " vq inspect counts them); each layer gets the --candidates configuration that minimises the"
                    + " predicted loss (H-weighted error) under it")
    Double targetBpw;
    @Option(names = "--candidates", paramLabel = "SPEC|FILE",
            description = "with --target-bpw: the configurations a layer may get, in vq sweep --configs' syntax"
                    + " (default: " + DEFAULT_CANDIDATES + ", those that fit the model's shapes)")
    String candidates;
    @Option(names = "--sensitivity", paramLabel = "P", defaultValue = "stacked",
            description = "with --target-bpw: the predicted loss the choice minimises, summed over layers: stacked"
                    + " (each candidate's effect alone on the whole model: mean KL of the next-token distributions on"
                    + " the first 8 calibration sequences) or h-error (the layer's H-weighted error) (default:"
                    + " ${DEFAULT-VALUE})")
    String sensitivity;
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

    /** The method options given on the command line (null, or false for a flag, when absent). */
    private List<String> givenMethodOptions() {
        List<String> given = new ArrayList<>();
        for (MethodOption<?> o : QuantOptions.all()) {
            Object v = spec.findOption(o.name()).getValue();
            if (v != null && !Boolean.FALSE.equals(v) && !(v instanceof List<?> l && l.isEmpty())) {
                given.add(o.name());
            }
        }
        return given;
    }

    @Override
    public Integer call() {
        SweepOptions.checkCalibLen(calibLen);
        if (targetBpw != null) {
            return budget();
        }
        if (candidates != null) {
            throw new InputException("--candidates: only with --target-bpw");
        }
        if (!sensitivity.equals("stacked")) {
            throw new InputException("--sensitivity: only with --target-bpw");
        }
        if (method == null) {
            throw new InputException("--method or --target-bpw: one is required");
        }
        QuantSpec s = buildSpec();
        PrintWriter outw = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        boolean tty = System.console() != null;
        try (Backend backend = device.openBackend(err); SourceModel source = SourceModel.open(model.model)) {
            Tokenizer tok = SweepOptions.tokenizer(model, source);
            var opts = new QuantizeJob.Options(model.model, calib, tok, s, calibSamples, calibLen, seed, out);
            QuantizeJob.Result r = QuantizeJob.run(source, opts, backend, listener(outw, err, tty));
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

    /** --target-bpw: measure every candidate on every layer, choose under the budget, quantize. */
    private int budget() {
        if (method != null) {
            throw new InputException("--method and --target-bpw: give one (with --target-bpw the configurations come"
                    + " from --candidates)");
        }
        List<String> given = givenMethodOptions();
        if (!given.isEmpty()) {
            throw new InputException(given.getFirst() + ": not with --target-bpw (give each configuration's options in"
                    + " --candidates)");
        }
        if (!(targetBpw > 0) || targetBpw.isInfinite()) {
            throw new InputException("--target-bpw: must be a positive number of bits per weight, got " + targetBpw);
        }
        List<SweepSpec.Config> configs = candidates == null ? SweepSpec.parse(DEFAULT_CANDIDATES)
                : Files.isRegularFile(Path.of(candidates)) ? SweepSpec.read(Path.of(candidates), "--candidates")
                : SweepSpec.parse(candidates, "--candidates");
        List<Candidate> cands = new ArrayList<>();
        configs.forEach(c -> cands.add(new Candidate(c.name(), c.spec())));
        PrintWriter outw = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        boolean tty = System.console() != null;
        try (Backend backend = device.openBackend(err); SourceModel source = SourceModel.open(model.model)) {
            List<Candidate> use = cands;
            if (candidates == null) {
                use = BudgetJob.usable(cands, source.config());
                if (use.isEmpty()) {
                    throw new InputException("--candidates: no configuration of the default ladder fits this model's"
                            + " shapes; give --candidates");
                }
            }
            Tokenizer tok = SweepOptions.tokenizer(model, source);
            var opts = new QuantizeJob.Options(model.model, calib, tok, use.getFirst().spec(), calibSamples, calibLen,
                    seed, out);
            BudgetJob.Result r = BudgetJob.run(source, opts, targetBpw, use, backend, listener(outw, err, tty),
                    BudgetJob.Proxy.parse(sensitivity));
            JsonNode plan = r.plan();
            outw.printf(Locale.ROOT, "per-layer choice (--target-bpw %s; predicted loss = %s):%n",
                    plan.path("target_bpw").asText(), plan.path("proxy").asText());
            for (JsonNode l : plan.path("layers")) {
                outw.printf(Locale.ROOT, "  %-36s %-36s %8d bytes  %.3f bpw  predicted %.4g%n", l.path("name").asText(),
                        l.path("config").asText(), l.path("bytes").asLong(),
                        l.path("bytes").asLong() * 8.0 / l.path("weights").asLong(),
                        l.path("predicted_loss").asDouble());
            }
            outw.printf(Locale.ROOT, "wrote %s: %d layers, true %.4f bits/weight over the quantized layers (every byte"
                            + " of the files but the unquantized tensors' data; budget %s: %d bytes, used %d),"
                            + " predicted loss %.6g, %.1fs%n", r.job().out(), r.job().layers().size(),
                    r.measuredBitsPerWeight(), plan.path("target_bpw").asText(), plan.path("budget_bytes").asLong(),
                    r.measuredBytes(), plan.path("predicted_loss").asDouble(), r.job().seconds());
            outw.flush();
        }
        return 0;
    }

    private static QuantizeJob.Listener listener(PrintWriter outw, PrintWriter err, boolean tty) {
        return new QuantizeJob.Listener() {
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
        };
    }
}
