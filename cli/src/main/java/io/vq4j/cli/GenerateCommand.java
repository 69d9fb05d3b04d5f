package io.vq4j.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import io.vq4j.eval.Generator;
import io.vq4j.eval.Sampler;
import io.vq4j.eval.WindowLoop;
import io.vq4j.kernels.Backend;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.ModelLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.concurrent.Callable;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text. Temperature 0 is greedy; otherwise softmax at T with top-p nucleus, seeded.")
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ModelOptions model = new ModelOptions();
    @picocli.CommandLine.Mixin
    DeviceOption device = new DeviceOption();
    @Option(names = "--prompt", paramLabel = "TEXT", defaultValue = "", description = "prompt (default: empty, BOS only)")
    String prompt;
    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "256", description = "default: ${DEFAULT-VALUE}")
    int maxTokens;
    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0.8", description = "default: ${DEFAULT-VALUE}")
    double temperature;
    @Option(names = "--top-p", paramLabel = "P", defaultValue = "0.9", description = "default: ${DEFAULT-VALUE}")
    double topP;
    @Option(names = "--seed", paramLabel = "S", defaultValue = "42", description = "default: ${DEFAULT-VALUE}")
    long seed;
    @Option(names = "--json", description = "print one JSON object on stdout instead of streaming text")
    boolean json;

    @Override
    public Integer call() {
        if (maxTokens < 0) {
            throw new InputException("--max-tokens: must be >= 0, got " + maxTokens);
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new InputException("--temperature: must be >= 0, got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new InputException("--top-p: must be in (0, 1], got " + topP);
        }
        PrintWriter err = spec.commandLine().getErr();
        try (Backend backend = device.open(err)) {
            return run(backend, err);
        }
    }

    private Integer run(Backend backend, PrintWriter err) {
        if (backend != null) {
            backend.resetPeakDeviceBytes();
        }
        ModelLoader.LoadedModel loaded = device.load(model, backend, err);
        LlamaModel m = DeviceOption.model(loaded.checkpoint(), backend);
        WindowLoop.checkModel(model.model, loaded.model().config().maxSeqLen());
        PrintWriter out = spec.commandLine().getOut();
        PrintStream raw = System.out;
        Generator.Result r = Generator.generate(m, loaded.tokenizer(), prompt, maxTokens,
                new Sampler(temperature, topP, seed), json ? null : bytes -> {
                    out.flush();
                    raw.write(bytes, 0, bytes.length);
                    raw.flush();
                });
        if (json) {
            ObjectNode o = Json.object();
            ArrayNode p = o.putArray("prompt_tokens");
            for (int t : r.promptTokens()) {
                p.add(t);
            }
            ArrayNode g = o.putArray("tokens");
            for (int t : r.tokens()) {
                g.add(t);
            }
            o.put("text", r.text());
            o.put("tokens_per_second", r.tokensPerSecond());
            o.put("temperature", temperature);
            o.put("top_p", topP);
            o.put("seed", seed);
            DeviceOption.describe(o, backend, loaded.checkpoint());
            o.put("peak_device_bytes", backend == null ? -1 : backend.peakDeviceBytes());
            DeviceOption.operations(o, m, false);
            out.println(Json.pretty(o));
        } else {
            out.println();
            err.printf("vq: %d tokens, %.1f tokens/s on %s%n", r.tokens().length, r.tokensPerSecond(),
                    DeviceOption.describe(backend, loaded.checkpoint()));
        }
        out.flush();
        return 0;
    }
}
