package io.vq4j.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import io.vq4j.eval.Perplexity;
import io.vq4j.eval.TextInput;
import io.vq4j.eval.WindowLoop;
import io.vq4j.kernels.Backend;
import io.vq4j.model.DeviceModels;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.ModelLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

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
        @Option(names = "--dense-baseline", paramLabel = "P",
                description = "with a GPU --device: also run the same model with its block linears uploaded as plain"
                        + " fp32 or fp16 weights (the dense baseline) and report its perplexity, tokens/s and peak"
                        + " device memory beside the packed model's")
        String denseBaseline;

        @Override
        public Integer call() {
            if (limitBytes < 0) {
                throw new InputException("--limit-bytes: must be >= 0, got " + limitBytes);
            }
            if (denseBaseline != null && !denseBaseline.equals("fp32") && !denseBaseline.equals("fp16")) {
                throw new InputException("--dense-baseline: must be fp32 or fp16, got '" + denseBaseline + "'");
            }
            PrintWriter err = spec.commandLine().getErr();
            try (Backend backend = device.open(err)) {
                if (denseBaseline != null && backend == null) {
                    throw new InputException("--dense-baseline: needs a GPU --device (cuda[:i] or opencl[:i]); on cpu there is"
                            + " nothing to compare");
                }
                return run(backend, err);
            }
        }

        private Integer run(Backend backend, PrintWriter err) {
            if (backend != null) {
                backend.resetPeakDeviceBytes();
            }
            ModelLoader.LoadedModel loaded = device.load(model, backend, err);
            LlamaModel m = DeviceOption.model(loaded.checkpoint(), backend);
            WindowLoop.checkModel(model.model, m.config().maxSeqLen());
            int window = ctx == null ? m.config().maxSeqLen() : ctx;
            WindowLoop.checkCtx(window, m.config().maxSeqLen());
            TextInput.Encoded input = TextInput.encode(text, limitBytes, loaded.tokenizer());
            String content = input.text();
            int[] ids = input.ids();
            Perplexity.Result r = evaluate(m, ids, window, err, "");
            long peak = backend == null ? -1 : backend.peakDeviceBytes();
            ObjectNode base = null;
            if (denseBaseline != null) {
                boolean half = denseBaseline.equals("fp16");
                LlamaCheckpoint dense = DeviceModels.dense(loaded.checkpoint(), backend,
                        half);
                DeviceModels.release(loaded.checkpoint());
                backend.resetPeakDeviceBytes();
                LlamaModel dm = DeviceOption.model(dense, backend);
                Perplexity.Result rb = evaluate(dm, ids, window, err, denseBaseline + " baseline ");
                base = Json.object();
                base.put("precision", denseBaseline);
                base.put("ppl", rb.ppl());
                base.put("mean_nll", rb.meanNll());
                base.put("seconds", rb.seconds());
                base.put("tokens_per_second", rb.tokensPerSecond());
                base.put("layers_on_device", DeviceOption.packedLayers(dense).size());
                base.put("device_weight_bytes", DeviceOption.packedLayers(dense).stream()
                        .mapToLong(x -> x.weights().deviceBytes()).sum());
                base.put("peak_device_bytes", backend.peakDeviceBytes());
                DeviceOption.operations(base, dm, true);
            }
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
                o.put("peak_device_bytes", peak);
                DeviceOption.operations(o, m, true);
                if (base != null) {
                    o.set("dense_baseline", base);
                }
                o.put("model", model.model.toString());
                o.put("text", text.toString());
                o.put("text_bytes", content.getBytes(StandardCharsets.UTF_8).length);
                out.println(Json.pretty(o));
            } else {
                out.printf("ppl %.4f  mean NLL %.6f  tokens %d  predictions %d  windows %d x ctx %d  %.1f tokens/s%n",
                        r.ppl(), r.meanNll(), r.nTokens(), r.nPredictions(), r.windows().size(), r.ctx(),
                        r.tokensPerSecond());
                if (base != null) {
                    out.printf(Locale.ROOT, "dense %s baseline on the device: ppl %.4f  %.1f tokens/s  weights"
                                    + " %.2f MB  peak device memory %.2f MB (packed: weights %.2f MB, peak %.2f MB)%n",
                            denseBaseline, base.path("ppl").asDouble(), base.path("tokens_per_second").asDouble(),
                            base.path("device_weight_bytes").asLong() / 1e6, base.path("peak_device_bytes").asLong() / 1e6,
                            DeviceOption.packedLayers(loaded.checkpoint()).stream()
                                    .mapToLong(x -> x.weights().deviceBytes()).sum() / 1e6, peak / 1e6);
                }
                err.println("vq: device " + DeviceOption.describe(backend, loaded.checkpoint())
                        + (peak >= 0 ? String.format(Locale.ROOT, ", peak device memory %.2f MB", peak / 1e6)
                        : ""));
            }
            out.flush();
            return 0;
        }

        private static Perplexity.Result evaluate(LlamaModel m, int[] ids, int window, PrintWriter err, String what) {
            boolean terminal = System.console() != null;
            return Perplexity.evaluate(m, ids, window, (done, total) -> {
                // on a terminal the line updates in place; in a log, one line per tenth
                if (terminal) {
                    err.printf("\rvq: %sperplexity window %d/%d%s", what, done, total, done == total ? "\n" : "");
                } else if (done == total || done * 10 / total != (done - 1) * 10 / total) {
                    err.printf("vq: %sperplexity window %d/%d%n", what, done, total);
                }
                err.flush();
                return 0;
            });
        }
    }
}
