package io.vq4j.cli;

import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.SyntheticModel;
import io.vq4j.tokenizer.Llama2cTokenizer;
import io.vq4j.tokenizer.TokenizerJson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "synth", mixinStandardHelpOptions = true,
        description = "Write a synthetic Llama checkpoint (heavy-tailed random weights) as a Hugging Face directory."
                + " Defaults: about 110M parameters (dim 768, 12 layers, GQA 12/4, hidden 2048, vocab 32000, tied).")
final class SynthCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Option(names = "--out", required = true, paramLabel = "DIR")
    Path out;
    @Option(names = "--dim", defaultValue = "768")
    int dim;
    @Option(names = "--hidden", defaultValue = "2048")
    int hidden;
    @Option(names = "--layers", defaultValue = "12")
    int layers;
    @Option(names = "--heads", defaultValue = "12")
    int heads;
    @Option(names = "--kv-heads", defaultValue = "4")
    int kvHeads;
    @Option(names = "--vocab", defaultValue = "32000")
    int vocab;
    @Option(names = "--max-seq", defaultValue = "1024")
    int maxSeq;
    @Option(names = "--seed", defaultValue = "1")
    long seed;
    @Option(names = "--tokenizer", paramLabel = "FILE", description = "a llama2.c tokenizer.bin, written into the model as tokenizer.json")
    Path tokenizer;

    @Override
    public Integer call() {
        if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocab <= 0 || maxSeq <= 0) {
            throw new InputException("synth: every size must be positive");
        }
        if (dim % heads != 0 || (dim / heads) % 2 != 0 || heads % kvHeads != 0) {
            throw new InputException("synth: --heads must split --dim into even head sizes and --kv-heads divide --heads");
        }
        if (tokenizer != null && !Files.isRegularFile(tokenizer)) {
            throw InputException.at(tokenizer, "no such tokenizer file");
        }
        Llama2cTokenizer tok = tokenizer == null ? null : Llama2cTokenizer.read(tokenizer);
        if (tok != null && tok.vocabSize() != vocab) {
            throw InputException.at(tokenizer, "has " + tok.vocabSize() + " tokens, --vocab is " + vocab);
        }
        LlamaConfig c = SyntheticModel.config(dim, hidden, layers, heads, kvHeads, vocab, maxSeq);
        HfCheckpoints.write(SyntheticModel.create(c, seed), out, DType.F32,
                tok == null ? null : dir -> TokenizerJson.write(tok, dir));
        spec.commandLine().getOut().printf("wrote %s (%,d parameters)%n", out, c.parameterCount());
        spec.commandLine().getOut().flush();
        return 0;
    }
}
