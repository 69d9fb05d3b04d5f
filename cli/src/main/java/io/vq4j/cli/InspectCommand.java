package io.vq4j.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.InputException;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.gguf.GgufFile;
import io.vq4j.model.GgufCheckpoint;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.Llama2cCheckpoint;
import io.vq4j.model.LlamaConfig;
import io.vq4j.pack.PackedStats;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "List the tensors of a .safetensors file, an HF directory, a GGUF file or a llama2.c checkpoint.")
final class InspectCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Parameters(paramLabel = "PATH")
    Path path;
    @Option(names = "--json", description = "print one JSON object on stdout")
    boolean json;
    @Option(names = "--verify", description = "check every tensor of a packed model's layers against the CRC32C"
            + " its layout records (format 2); a mismatch or a layer without checksums (format 1) is an error")
    boolean verify;

    private record Row(String name, String dtype, long[] shape, long elements, long bytes, String file) {
    }

    @Override
    public Integer call() {
        if (!Files.exists(path)) {
            throw InputException.at(path, "no such file or directory");
        }
        List<Row> rows = new ArrayList<>();
        LlamaConfig config = null;
        if (Files.isDirectory(path)) {
            config = HfCheckpoints.readConfig(path);
            try (SafeTensorsDirectory d = SafeTensorsDirectory.open(path)) {
                for (SafeTensorsFile f : d.files()) {
                    add(rows, f);
                }
            }
        } else if (GgufFile.isGguf(path)) {
            try (GgufFile f = GgufFile.open(path)) {
                boolean llama = f.has("general.architecture")
                        && f.string("general.architecture").equals(GgufCheckpoint.ARCHITECTURE);
                config = llama ? GgufCheckpoint.readConfig(f) : null;
                for (GgufFile.Tensor t : f.tensors().values()) {
                    rows.add(new Row(t.name(), t.type().name(), t.rowMajorShape(), t.elements(), t.bytes(),
                            path.getFileName().toString()));
                }
            }
        } else if (path.getFileName().toString().endsWith(".safetensors")) {
            try (SafeTensorsFile f = SafeTensorsFile.open(path)) {
                add(rows, f);
            }
        } else {
            config = Llama2cCheckpoint.readConfig(path);
            llama2c(rows, config);
        }
        long params = rows.stream().mapToLong(Row::elements).sum();
        long bytes = rows.stream().mapToLong(Row::bytes).sum();
        PrintWriter out = spec.commandLine().getOut();
        PackedStats.Stats packed = Files.isDirectory(path) && PackedStats.isPacked(path)
                ? PackedStats.of(path, verify) : null;
        if (verify) {
            checkVerified(packed);
        }
        if (json) {
            ObjectNode o = Json.object();
            if (packed != null) {
                o.put("true_bits_per_weight", packed.trueBitsPerWeight());
                o.put("nominal_bits_per_weight", packed.nominalBitsPerWeight());
                o.put("model_bits_per_parameter", packed.modelBitsPerParameter());
                o.put("quantized_weights", packed.quantizedWeights());
                o.put("shared_codebook_bytes", packed.sharedCodebookBytes());
                if (verify) {
                    o.put("verified_layers", packed.layers().size());
                }
                ArrayNode ls = o.putArray("layers");
                for (PackedStats.Layer l : packed.layers()) {
                    ObjectNode lo = ls.addObject();
                    lo.put("name", l.name());
                    lo.put("method", l.method());
                    lo.putArray("shape").add(l.rows()).add(l.cols());
                    lo.put("bytes", l.bytes());
                    lo.put("true_bits_per_weight", l.trueBitsPerWeight());
                    lo.put("nominal_bits_per_weight", l.nominalBitsPerWeight());
                    lo.put("file", l.file());
                }
            }
            o.put("path", path.toString());
            if (config != null) {
                o.set("config", Json.MAPPER.valueToTree(config));
            }
            o.put("parameters", params);
            o.put("tensor_bytes", bytes);
            ArrayNode ts = o.putArray("tensors");
            for (Row r : rows) {
                ObjectNode t = ts.addObject();
                t.put("name", r.name);
                t.put("dtype", r.dtype);
                ArrayNode s = t.putArray("shape");
                for (long d : r.shape) {
                    s.add(d);
                }
                t.put("bytes", r.bytes);
                t.put("file", r.file);
            }
            out.println(Json.pretty(o));
        } else {
            if (config != null) {
                out.println(config);
            }
            for (Row r : rows) {
                out.printf("%-50s %-5s %-16s %,14d bytes%n", r.name, r.dtype, Arrays.toString(r.shape), r.bytes);
            }
            out.printf("%d tensors, %,d parameters, %,d bytes%n", rows.size(), params, bytes);
            if (packed != null) {
                out.println();
                out.printf("%-44s %-7s %-11s %12s %9s %9s%n", "packed layer", "method", "shape", "bytes", "nominal", "true bpw");
                for (PackedStats.Layer l : packed.layers()) {
                    out.printf(Locale.ROOT, "%-44s %-7s %-11s %,12d %9.3f %9.3f%n", l.name(), l.method(),
                            l.rows() + "x" + l.cols(), l.bytes(), l.nominalBitsPerWeight(), l.trueBitsPerWeight());
                }
                if (packed.sharedCodebookBytes() > 0) {
                    out.printf(Locale.ROOT, "shared codebooks: %,d bytes, stored once (not in the per-layer"
                            + " rows above; in the total below)%n", packed.sharedCodebookBytes());
                }
                out.printf(Locale.ROOT, "quantized layers: %,d weights, nominal %.4f bits/weight, true %.4f"
                                + " bits/weight (all file overhead charged to them)%n", packed.quantizedWeights(),
                        packed.nominalBitsPerWeight(), packed.trueBitsPerWeight());
                out.printf(Locale.ROOT, "whole model: %.4f bits/parameter (every byte of the files over all"
                        + " %,d parameters)%n", packed.modelBitsPerParameter(), packed.parameters());
                if (verify) {
                    out.printf("verified: every tensor of the %d packed layers matches its CRC32C%n",
                            packed.layers().size());
                }
            }
        }
        out.flush();
        return 0;
    }

    /** --verify: a packed model whose every layer carries checksums (they were compared while reading). */
    private void checkVerified(PackedStats.Stats packed) {
        if (packed == null) {
            throw InputException.at(path, "--verify: not a packed vq4j model (config.json has no vq4j"
                    + " quantization_config); only packed layers carry checksums");
        }
        for (PackedStats.Layer l : packed.layers()) {
            if (l.format() < 2) {
                throw InputException.at(path.resolve(l.file()), "--verify: packed layer '" + l.name() + "' is format "
                        + l.format() + ", which has no checksums");
            }
        }
    }

    private static void add(List<Row> rows, SafeTensorsFile f) {
        for (SafeTensorsFile.TensorInfo t : f.tensors().values()) {
            rows.add(new Row(t.name(), t.dtype().name(), t.shape(), t.elements(), t.bytes(),
                    f.path().getFileName().toString()));
        }
    }

    /** The llama2.c layout, tensor by tensor, as Llama2cCheckpoint reads it. */
    private void llama2c(List<Row> rows, LlamaConfig c) {
        String file = path.getFileName().toString();
        int d = c.dim();
        int n = c.nLayers();
        long[][] shapes = {{c.vocabSize(), d}, {n, d}, {n, c.qDim(), d}, {n, c.kvDim(), d}, {n, c.kvDim(), d},
                {n, d, c.qDim()}, {n, d}, {n, c.hiddenDim(), d}, {n, d, c.hiddenDim()}, {n, c.hiddenDim(), d}, {d},
                {c.maxSeqLen(), c.headDim() / 2}, {c.maxSeqLen(), c.headDim() / 2}};
        String[] names = {"token_embedding", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3",
                "rms_final", "freq_cis_real", "freq_cis_imag"};
        for (int i = 0; i < names.length; i++) {
            long e = 1;
            for (long s : shapes[i]) {
                e *= s;
            }
            rows.add(new Row(names[i], "F32", shapes[i], e, e * 4, file));
        }
        if (!c.tieWordEmbeddings()) {
            rows.add(new Row("wcls", "F32", new long[] {c.vocabSize(), d}, (long) c.vocabSize() * d,
                    4L * c.vocabSize() * d, file));
        }
    }
}
