package io.vq4j.cli;

import io.vq4j.eval.TextInput;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import io.vq4j.eval.Perplexity;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.ModelLoader;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "eval", description = "Evaluate a model.", subcommands = EvalCommand.Ppl.class,
        mixinStandardHelpOptions = true)
final class EvalCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(), "eval needs a subcommand: ppl");
    }

    @Command(name = "ppl", mixinStandardHelpOptions = true,
            description = "Perplexity on a text: tokenized once with BOS, non-overlapping windows of --ctx tokens,"
                    + " each run from position 0; mean NLL over the predictions of tokens 1..len-1 of every window.")
    static final class Ppl implements Callable<Integer> {
        @Spec
        CommandSpec spec;
        @Mixin
        ModelOptions model = new ModelOptions();
        @Mixin
        DeviceOption device = new DeviceOption();
        @Option(names = "--text", required = true, paramLabel = "FILE", description = "UTF-8 text file")
        Path text;
        @Option(names = "--ctx", paramLabel = "N", description = "window length in tokens (default: the model's max sequence length)")
        Integer ctx;
        @Option(names = "--limit-bytes", paramLabel = "N", description = "use only the first N bytes of the text")
        long limitBytes;
        @Option(names = "--json", description = "print one JSON object on stdout")
        boolean json;

        @Override
        public Integer call() {
            if (limitBytes < 0) {
                throw new InputException("--limit-bytes: must be >= 0, got " + limitBytes);
            }
            PrintWriter err = spec.commandLine().getErr();
            try (io.vq4j.kernels.Backend backend = device.open(err)) {
                return run(backend, err);
            }
        }

        private Integer run(io.vq4j.kernels.Backend backend, PrintWriter err) {
            ModelLoader.LoadedModel loaded = device.load(model, backend, err);
            LlamaModel m = loaded.model();
            int window = ctx == null ? m.config().maxSeqLen() : ctx;
            if (window < 2 || window > m.config().maxSeqLen()) {
                throw new InputException("--ctx: must be in 2.." + m.config().maxSeqLen() + " for this model, got " + window);
            }
            String content = TextInput.read(text, limitBytes);
            int[] ids = loaded.tokenizer().encode(content, true);
            boolean terminal = System.console() != null;
            Perplexity.Result r = Perplexity.evaluate(m, ids, window, (done, total) -> {
                // on a terminal the line updates in place; in a log, one line per tenth
                if (terminal) {
                    err.printf("\rvq: perplexity window %d/%d%s", done, total, done == total ? "\n" : "");
                } else if (done == total || done * 10 / total != (done - 1) * 10 / total) {
                    err.printf("vq: perplexity window %d/%d%n", done, total);
                }
                err.flush();
                return 0;
            });
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                ObjectNode o = Json.object();
                o.put("ppl", r.ppl());
                o.put("mean_nll", r.meanNll());
                o.put("n_tokens", r.nTokens());
                o.put("n_predictions", r.nPredictions());
                o.put("ctx", r.ctx());
                o.put("windows", r.windows().size());
                o.put("seconds", r.seconds());
                o.put("tokens_per_second", r.tokensPerSecond());
                DeviceOption.describe(o, backend, loaded.checkpoint());
                o.put("model", model.model.toString());
                o.put("text", text.toString());
                o.put("text_bytes", content.getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
                out.println(Json.pretty(o));
            } else {
                out.printf("ppl %.4f  mean NLL %.6f  tokens %d  predictions %d  windows %d x ctx %d  %.1f tokens/s%n",
                        r.ppl(), r.meanNll(), r.nTokens(), r.nPredictions(), r.windows().size(), r.ctx(),
                        r.tokensPerSecond());
                err.println("vq: device " + DeviceOption.describe(backend, loaded.checkpoint()));
            }
            out.flush();
            return 0;
        }
    }
}
