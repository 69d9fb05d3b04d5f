package io.vq4j.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.kernels.Backend;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.select.Backends;
import io.vq4j.model.DeviceModels;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.ModelLoader;
import io.vq4j.model.PackedLinear;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;

/** --device for the commands that run a model: where the packed layers of a vq4j directory run. */
final class DeviceOption {
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "D",
            description = "cpu, cuda[:i], opencl[:i] or auto (default: ${DEFAULT-VALUE}). On a GPU backend the packed layers"
                    + " of a vq4j directory are uploaded packed and run by its dequant-matmul kernel; on cpu they are"
                    + " dequantized on load.")
    String device;

    /** The backend for packed layers, or null for the CPU path (dequantize on load). */
    Backend open(PrintWriter err) {
        Backend b = Backends.open(device, m -> {
            err.println("vq: " + m);
            err.flush();
        });
        if (b instanceof CpuBackend) {
            b.close();
            return null;
        }
        return b;
    }

    ModelLoader.LoadedModel load(ModelOptions model, Backend backend, PrintWriter err) {
        ModelLoader.LoadedModel loaded = ModelLoader.load(model.model, model.tokenizer, backend);
        if (backend != null && packedLayers(loaded.checkpoint()).isEmpty()) {
            err.println("vq: --device " + device + ": the model has no packed layers; everything runs on the CPU");
            err.flush();
        }
        return loaded;
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
