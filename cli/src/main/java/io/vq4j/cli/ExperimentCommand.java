package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.eval.sweep.ResidualLever;
import io.vq4j.eval.sweep.Sweep;
import io.vq4j.eval.sweep.SweepSpec;
import io.vq4j.kernels.Backend;
import io.vq4j.model.ModelLoader;
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
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "experiment", description = "Experiments on what compression costs.", mixinStandardHelpOptions = true,
        subcommands = ExperimentCommand.ResidualLeverCommand.class)
final class ExperimentCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "experiment needs a subcommand: residual-lever");
    }

    @Command(name = "residual-lever", mixinStandardHelpOptions = true,
            description = {"After VQ, keep the worst sub-vectors (by squared error) of every layer in fp16 with a"
                    + " locator bitmap, for a range of budgets, and compare true bits/weight, per-tensor fidelity and"
                    + " stacked perplexity with simply using a larger codebook at the same total bits.",
                    "Writes residual-lever.md, .json and .png into --out (plus the sweep of the codebooks); started"
                            + " again it skips what is done."})
    static final class ResidualLeverCommand implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @Mixin
        SweepOptions sweep = new SweepOptions();
        @Option(names = "--base", defaultValue = "kmeans:dim=2,centroids=16", paramLabel = "SPEC",
                description = "the VQ configuration the lever is applied to, in vq sweep's notation (default: ${DEFAULT-VALUE})")
        String base;
        @Option(names = "--larger", defaultValue = "kmeans:dim=2,centroids=32,64,128,256", paramLabel = "SPEC",
                description = "the larger codebooks to compare with (default: ${DEFAULT-VALUE})")
        String larger;
        @Option(names = "--budgets", defaultValue = "0.5,1,2,5,10", split = ",", paramLabel = "P,...",
                description = "percent of each layer's sub-vectors kept in fp16 (default: ${DEFAULT-VALUE})")
        List<Double> budgets;

        @Override
        public Integer call() {
            List<SweepSpec.Config> b = SweepSpec.parse(base);
            if (b.size() != 1) {
                throw new InputException("--base: must name one configuration, got " + b.size());
            }
            List<SweepSpec.Config> l = SweepSpec.parse(larger);
            PrintWriter outw = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            try (Backend backend = sweep.openBackend(err); SourceModel source = SourceModel.open(sweep.model.model)) {
                Tokenizer tok = SweepOptions.tokenizer(sweep.model, source);
                var o = sweep.options(tok);
                ResidualLever.Report r = ResidualLever.run(source, ModelLoader.load(sweep.model.model, sweep.model.tokenizer).model(),
                        b.getFirst(), l, budgets.stream().mapToDouble(Double::doubleValue).toArray(), o, backend,
                        new Sweep.Listener() {
                            @Override
                            public void info(String line) {
                                err.println("vq: " + line);
                                err.flush();
                            }

                            @Override
                            public void finished(int i, int n, Sweep.Result x, boolean resumed) {
                                err.printf(Locale.ROOT, "vq: [%d/%d] %s: %.3f bpw  ppl %.4f (x%.3f)%s%n", i + 1, n,
                                        x.name(), x.trueBitsPerWeight(), x.ppl(), x.pplRatio(),
                                        resumed ? "  (done before)" : "");
                                err.flush();
                            }
                        });
                Path dir = sweep.out.toAbsolutePath().normalize();
                ResidualLever.write(dir, r);
                outw.println(Files.exists(dir.resolve("residual-lever.md"))
                        ? readMd(dir.resolve("residual-lever.md")) : "");
                outw.flush();
            }
            return 0;
        }

        private static String readMd(Path p) {
            try {
                return Files.readString(p);
            } catch (IOException e) {
                throw InputException.at(p, "cannot read: " + e.getMessage());
            }
        }
    }
}
