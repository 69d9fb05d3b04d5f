package io.vq4j.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.select.Backends;
import io.vq4j.model.DeviceForward;
import io.vq4j.model.DeviceModels;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaModel;
import io.vq4j.model.ModelLoader;
import io.vq4j.model.PackedLinear;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;

/**
 * --device, the one declaration that every command running on a device mixes in (quantize,
 * sweep, experiment residual-lever, eval ppl, generate; bench kernels takes a list of devices,
 * {@link Several}), and how it opens the backend: {@code Backends.open}, its notices (a fallback
 * to the CPU) on stderr as "vq: " lines.
 *
 * <p>Each command keeps its own help text: the one below is eval ppl's and generate's (where the
 * packed layers of a vq4j directory run); the others are in DeviceOption.properties, the bundle
 * of the {@code vq} command line, under the command's path ({@code vq.quantize.device}), which
 * picocli looks up before the annotation's text.
 */
final class DeviceOption {
    /** The default of --device, and the device the CPU path is named by. */
    static final String CPU = "cpu";

    @Option(names = "--device", defaultValue = CPU, paramLabel = "D",
            description = "cpu, cuda[:i], opencl[:i] or auto (default: ${DEFAULT-VALUE}). On a GPU backend the packed layers"
                    + " of a vq4j directory are uploaded packed and run by its dequant-matmul kernel, dense ones as fp32,"
                    + " and every other operation of the forward (embedding, norms, RoPE, attention over a KV cache on"
                    + " the device, SiLU, the head, the NLL) runs there too; on cpu packed layers are dequantized on"
                    + " load.")
    String device;

    /** bench kernels' --device: the devices to time, comma-separated. */
    static final class Several {
        @Option(names = "--device", defaultValue = CPU, split = ",", paramLabel = "LIST",
                description = "devices, comma-separated (cpu, cuda[:i], opencl[:i]; tornado[:b:d] under scripts/vq"
                        + " --tornado); the CPU is always timed too (default: ${DEFAULT-VALUE})")
        List<String> specs;
    }

    /** The backend --device names (the CPU backend for cpu). */
    Backend openBackend(PrintWriter err) {
        return openBackend(device, err);
    }

    /** The backend {@code spec} names; its notices go to {@code err} as "vq: " lines. */
    static Backend openBackend(String spec, PrintWriter err) {
        return Backends.open(spec, m -> {
            err.println("vq: " + m);
            err.flush();
        });
    }

    /** The backend for packed layers, or null for the CPU path (dequantize on load). */
    Backend open(PrintWriter err) {
        Backend b = openBackend(err);
        if (b instanceof CpuBackend) {
            b.close();
            return null;
        }
        return b;
    }

    ModelLoader.LoadedModel load(ModelOptions model, Backend backend, PrintWriter err) {
        ModelLoader.LoadedModel loaded = model.loading(() -> ModelLoader.load(model.model, model.tokenizer, backend));
        if (backend != null && backend.forwardOps() == null && packedLayers(loaded.checkpoint()).isEmpty()) {
            err.println("vq: --device " + device + ": the model has no packed layers; everything runs on the CPU");
            err.flush();
        }
        return loaded;
    }

    // ---- the whole forward on the device (issue 17) -------------------------------------------

    /** The model of eval ppl and generate: its whole forward on the backend where it has forward ops. */
    static LlamaModel model(LlamaCheckpoint c, Backend backend) {
        return LlamaModel.of(c).onDevice(backend);
    }

    /** "operations": where each operation of the forward ran ("device" or "host"), in forward order. */
    static void operations(ObjectNode o, LlamaModel m, boolean nll) {
        ObjectNode ops = o.putObject("operations");
        for (String op : DeviceForward.OPERATIONS) {
            if (op.equals("nll") && !nll) {
                continue; // generate samples from the logits on the host
            }
            ops.put(op, m.runsOnDevice() ? "device" : "host");
        }
    }

    static List<PackedLinear> packedLayers(LlamaCheckpoint c) {
        return DeviceModels.packedLayers(c);
    }

    /** device, packed_layers_on_device and device_weight_bytes (the packed weights held on the device). */
    static void describe(ObjectNode o, Backend backend, LlamaCheckpoint c) {
        o.put("device", backend == null ? "cpu" : backend.name());
        List<PackedLinear> p = packedLayers(c);
        o.put("packed_layers_on_device", backend == null ? 0 : p.size());
        o.put("device_weight_bytes", backend == null ? 0 : p.stream().mapToLong(x -> x.weights().deviceBytes()).sum());
    }

    static String describe(Backend backend, LlamaCheckpoint c) {
        if (backend == null) {
            return "cpu";
        }
        List<PackedLinear> p = packedLayers(c);
        return String.format(Locale.ROOT, "%s, %d packed layers on the device, %.2f MB", backend.name(),
                p.size(), p.stream().mapToLong(x -> x.weights().deviceBytes()).sum() / 1e6);
    }
}
