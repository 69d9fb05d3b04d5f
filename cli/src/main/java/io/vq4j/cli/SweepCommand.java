package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.eval.sweep.EncoderSweep;
import io.vq4j.eval.sweep.EncoderSweepReport;
import io.vq4j.eval.sweep.Sweep;
import io.vq4j.eval.sweep.SweepReport;
import io.vq4j.eval.sweep.SweepSpec;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.ModelLoader;
import io.vq4j.model.minilm.MiniLm;
import io.vq4j.quant.SourceModel;
import io.vq4j.tokenizer.Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "sweep", mixinStandardHelpOptions = true,
        description = {"Quantize a model with a list of configurations and evaluate each with every metric: per"
                + " tensor (weight MSE and SQNR, Hessian-weighted error, output cosine on Gaussian inputs and on real"
                + " activations) and stacked (perplexity, KL and top-1 agreement against the unquantized model).",
                "Writes sweep.json, sweep.md (a table, and how well each per-tensor metric predicted the stacked"
                        + " ranking) and two PNG plots. Started again with the same settings it skips the"
                        + " configurations already done."})
final class SweepCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    SweepOptions sweep = new SweepOptions();
    @Option(names = "--configs", required = true, paramLabel = "SPEC",
            description = "configurations: \"rtn:bits=2,3,4;kmeans:dim=2,centroids=16,64\" (';' between methods,"
                    + " options as in vq quantize, values after one name are crossed; a flag alone means true;"
                    + " residual stages joined by '+'), or a file with one such entry per line")
    String configs;
    @Option(names = "--sentences", defaultValue = "256", paramLabel = "N",
            description = "sentence encoders (--model an .onnx, or a jar holding one): evaluation sentences of --text"
                    + " (default: ${DEFAULT-VALUE}); --calib-samples counts calibration sentences")
    int sentences;
    @Option(names = "--seeds", defaultValue = "1", paramLabel = "N",
            description = "runs of each configuration, with seeds --seed, --seed + 1, ...; the report gives mean,"
                    + " standard deviation, minimum and maximum of every metric (default: ${DEFAULT-VALUE})")
    int seeds;

    @Option(names = "--target-bpw", split = ",", paramLabel = "B",
            description = "also a row per budget B: each layer gets the --candidates configuration that minimises"
                    + " the predicted loss under B true bits per weight (vq quantize --target-bpw; on a sentence"
                    + " encoder, the layers file's bytes)")
    List<Double> targetBpw = List.of();
    @Option(names = "--candidates", paramLabel = "SPEC|FILE",
            description = "with --target-bpw: the configurations each layer chooses from (default: --configs)")
    String candidates;
    @Option(names = "--sensitivity", split = ",", paramLabel = "P", defaultValue = "stacked",
            description = "with --target-bpw: a row per budget and per predicted loss, stacked (each candidate's"
                    + " effect alone on the whole model) and/or h-error (default: ${DEFAULT-VALUE})")
    List<String> sensitivity;

    @Override
    public Integer call() {
        List<SweepSpec.Config> uniform = Files.isRegularFile(Path.of(configs)) ? SweepSpec.read(Path.of(configs))
                : SweepSpec.parse(configs);
        if (candidates != null && targetBpw.isEmpty()) {
            throw new InputException("--candidates: only with --target-bpw");
        }
        List<SweepSpec.Config> list = new ArrayList<>(uniform);
        List<SweepSpec.Config> cands = candidates == null ? uniform : Files.isRegularFile(Path.of(candidates))
                ? SweepSpec.read(Path.of(candidates), "--candidates") : SweepSpec.parse(candidates, "--candidates");
        for (double b : targetBpw) {
            for (String p : sensitivity) {
                SweepSpec.Config row = SweepSpec.budget(b, cands, p);
                if (list.stream().anyMatch(c -> c.slug().equals(row.slug()))) {
                    throw new InputException("--target-bpw: " + row.name() + " given twice");
                }
                list.add(row);
            }
        }
        PrintWriter outw = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        boolean tty = System.console() != null;
        if (EncoderSweep.isEncoder(sweep.model.model)) {
            return encoder(list, outw, err);
        }
        try (Backend backend = sweep.openBackend(err); SourceModel source = SourceModel.open(sweep.model.model)) {
            Tokenizer tok = SweepOptions.tokenizer(sweep.model, source);
            LlamaModel reference = ModelLoader.load(sweep.model.model, sweep.model.tokenizer).model();
            Backend evalOn = backend instanceof CpuBackend ? null : backend;
            var o = sweep.options(tok, seeds);
            long t0 = System.nanoTime();
            List<Sweep.Result> rs = Sweep.run(source, reference, list, o, backend, evalOn, new Sweep.Listener() {
                String current = "";

                @Override
                public void info(String line) {
                    if (tty) {
                        err.print("\r" + " ".repeat(79) + "\r");
                    }
                    err.println("vq: " + line);
                    err.flush();
                }

                @Override
                public void started(int i, int n, SweepSpec.Config c) {
                    current = String.format(Locale.ROOT, "[%d/%d] %s", i + 1, n, c.name());
                    err.println("vq: " + current);
                    err.flush();
                }

                @Override
                public void seedStarted(int i, int s, int n, long seed) {
                    if (tty) {
                        err.print("\r" + " ".repeat(79) + "\r");
                    }
                    err.printf(Locale.ROOT, "vq: %s: seed %d (%d/%d)%n", current, seed, s + 1, n);
                    err.flush();
                }

                @Override
                public void quantizeProgress(int block, int blocks, String layer) {
                    if (tty) {
                        err.printf("\rvq: %s: quantizing block %d/%d %-18s", current, block + 1, blocks, layer);
                        err.flush();
                    }
                }

                @Override
                public void finished(int i, int n, Sweep.Result r, boolean resumed) {
                    if (tty) {
                        err.print("\r" + " ".repeat(79) + "\r");
                        err.flush();
                    }
                    outw.printf(Locale.ROOT, "[%d/%d] %-40s %s%6.3f bpw  ppl %9.4f (x%.3f)  KL %.4f  top-1 %.3f"
                                    + "  cos rand %.5f real %.5f  %s%n", i + 1, n, r.name(),
                            seeds > 1 ? String.format(Locale.ROOT, "seed %d  ", r.seed()) : "", r.trueBitsPerWeight(),
                            r.ppl(), r.pplRatio(), r.meanKl(), r.top1Agreement(), r.meanCosineRandom(),
                            r.meanCosineReal(), resumed ? "(done before)" : String.format(Locale.ROOT,
                                    "%.1fs + %.1fs", r.quantizeSeconds(), r.evalSeconds()));
                    outw.flush();
                }
            });
            Path dir = sweep.out.toAbsolutePath().normalize();
            com.fasterxml.jackson.databind.JsonNode settings = settings(dir);
            SweepReport.write(dir, settings, rs);
            outw.printf(Locale.ROOT, "wrote %s: %s, %s, %s, %s (%d configurations, %.1fs)%n", dir,
                    SweepReport.MD_FILE, SweepReport.JSON_FILE, SweepReport.PLOT_BITS, SweepReport.PLOT_COSINE,
                    list.size(), (System.nanoTime() - t0) / 1e9);
            outw.flush();
        }
        return 0;
    }

    /** The sweep on a sentence encoder: stacked metric = cosine of sentence embeddings to the fp32 model's. */
    private int encoder(List<SweepSpec.Config> list, PrintWriter outw, PrintWriter err) {
        if (sweep.model.tokenizer != null || sweep.calibLen != 0 || sweep.ctx != 0) {
            throw new InputException("--tokenizer, --calib-len and --ctx are for causal models; a sentence encoder"
                    + " brings its tokenizer and embeds whole sentences");
        }
        MiniLm fp = MiniLm.load(sweep.model.model);
        try (Backend backend = sweep.openBackend(err)) {
            var o = new EncoderSweep.Options(sweep.model.model, sweep.calib, sweep.text,
                    sweep.limitBytes, sweep.calibSamples, sentences, sweep.seed, seeds, sweep.realSamples,
                    sweep.randomRows, sweep.out);
            long t0 = System.nanoTime();
            var rs = EncoderSweep.run(fp, list, o, backend,
                    new EncoderSweep.Listener() {
                        @Override
                        public void info(String line) {
                            err.println("vq: " + line);
                            err.flush();
                        }

                        @Override
                        public void started(int i, int n, SweepSpec.Config c) {
                            err.printf(Locale.ROOT, "vq: [%d/%d] %s%n", i + 1, n, c.name());
                            err.flush();
                        }

                        @Override
                        public void seedStarted(int i, int s, int n, long seed) {
                            err.printf(Locale.ROOT, "vq: seed %d (%d/%d)%n", seed, s + 1, n);
                            err.flush();
                        }

                        @Override
                        public void finished(int i, int n, EncoderSweep.Result r, boolean resumed) {
                            outw.printf(Locale.ROOT, "[%d/%d] %-40s %s%6.3f bpw  embedding cos %.6f (min %.6f)"
                                            + "  cos rand %.5f real %.5f  %s%n", i + 1, n, r.name(),
                                    seeds > 1 ? String.format(Locale.ROOT, "seed %d  ", r.seed()) : "",
                                    r.trueBitsPerWeight(), r.meanCosine(), r.minCosine(), r.meanCosineRandom(),
                                    r.meanCosineReal(), resumed ? "(done before)" : String.format(Locale.ROOT,
                                            "%.1fs + %.1fs", r.quantizeSeconds(), r.evalSeconds()));
                            outw.flush();
                        }
                    });
            Path dir = sweep.out.toAbsolutePath().normalize();
            com.fasterxml.jackson.databind.JsonNode settings = settings(dir);
            EncoderSweepReport.write(dir, settings, rs);
            outw.printf(Locale.ROOT, "wrote %s: %s, %s, %s, %s (%d configurations, %.1fs)%n", dir,
                    SweepReport.MD_FILE, SweepReport.JSON_FILE, EncoderSweepReport.PLOT_BITS,
                    EncoderSweepReport.PLOT_COSINE, list.size(), (System.nanoTime() - t0) / 1e9);
            outw.flush();
        }
        return 0;
    }

    private static com.fasterxml.jackson.databind.JsonNode settings(Path dir) {
        try {
            return Json.MAPPER.readTree(dir.resolve(Sweep.SETTINGS).toFile());
        } catch (IOException e) {
            throw InputException.at(dir.resolve(Sweep.SETTINGS), "cannot read: " + e.getMessage());
        }
    }
}
