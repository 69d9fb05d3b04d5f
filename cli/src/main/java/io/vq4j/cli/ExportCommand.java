package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.export.gguf.GgufExport;
import io.vq4j.io.gguf.GgmlType;
import io.vq4j.model.ModelLoader;
import io.vq4j.tokenizer.GgufVocab;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Write a model (llama2.c checkpoint, HF directory, packed vq4j directory or GGUF) in a format"
                + " other engines load: --format gguf writes a Llama GGUF v3 file that llama.cpp runs.")
final class ExportCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--format", paramLabel = "F", defaultValue = "gguf",
            description = "gguf (default: ${DEFAULT-VALUE})")
    String format;
    @Option(names = "--type", paramLabel = "T", required = true,
            description = "f32, f16, q8_0, q5_0, q4_0, q4_1 or q4_K: how the 2-D weights are stored (llama.cpp's"
                    + " reference rounding; rows that are not whole blocks fall back as llama.cpp's quantizer does:"
                    + " q4_K to q5_0, 32-value types to f16; norms stay f32)")
    String type;
    @Option(names = "--out", required = true, paramLabel = "FILE.gguf", description = "the file to write (replaced)")
    Path out;

    @Override
    public Integer call() {
        if (!format.equalsIgnoreCase("gguf")) {
            throw new InputException("--format: must be gguf, got " + format);
        }
        GgmlType t = GgmlType.byName(type);
        if (t == null) {
            throw new InputException("--type: must be f32, f16, q8_0, q5_0, q4_0, q4_1 or q4_K, got " + type);
        }
        ModelLoader.LoadedModel loaded = model.load();
        GgufVocab vocab = GgufVocab.forModel(loaded.tokenizer(), model.model, model.tokenizer);
        GgufExport.Result r = GgufExport.write(loaded.checkpoint(), vocab, t, out);
        PrintWriter o = spec.commandLine().getOut();
        o.printf(Locale.ROOT, "wrote %s: GGUF v3, llama, %d tensors, %,d bytes; 2-D weights %s, %.3f bits/value%n",
                r.file(), r.tensors().size(), r.bytes(), t.ggmlName(), r.weightBitsPerValue());
        Map<GgmlType, List<String>> fallbacks = r.fallbacks().stream().collect(Collectors.groupingBy(
                GgufExport.Stored::type, TreeMap::new, Collectors.mapping(GgufExport.Stored::name, Collectors.toList())));
        fallbacks.forEach((stored, names) -> o.printf(Locale.ROOT, "  stored as %s (rows not whole %s blocks): %s%n",
                stored.ggmlName(), t.ggmlName(), String.join(", ", names)));
        o.flush();
        return 0;
    }
}
