package io.vq4j.cli;

import io.vq4j.kernels.select.Backends;
import io.vq4j.pack.PackedStats;
import io.vq4j.core.InputException;
import io.vq4j.kernels.Backend;
import io.vq4j.quant.QuantOptions;
import io.vq4j.quant.QuantSpec;
import io.vq4j.quant.job.QuantizeJob;
import io.vq4j.quant.SourceModel;
import io.vq4j.tokenizer.Tokenizer;
import io.vq4j.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Quantize a model's linear layers (rtn, gptq, kmeans, gptvq, vptq) into a packed directory.")
final class QuantizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;
    @Mixin
    ModelOptions model = new ModelOptions();
    @Option(names = "--calib", required = true, paramLabel = "FILE", description = "calibration text (UTF-8)")
    Path calib;
    @Option(names = "--method", required = true, paramLabel = "M", description = "rtn, gptq, kmeans, gptvq or vptq")
    String method;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "output directory (new, or an unfinished run to resume)")
    Path out;
    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "seed (default: ${DEFAULT-VALUE})")
    long seed;
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "D", description = "cpu, cuda[:i], opencl[:i] or auto (default: ${DEFAULT-VALUE}; see vq devices)")
    String device;
    @Option(names = "--calib-samples", defaultValue = "128", paramLabel = "N", description = "calibration sequences (default: ${DEFAULT-VALUE})")
    int calibSamples;
    @Option(names = "--calib-len", defaultValue = "0", paramLabel = "L", description = "tokens per sequence (default: min(512, the model's max))")
    int calibLen;
    @Option(names = "--percdamp", paramLabel = "X", description = "Hessian damping (default 0.01)")
    Double percdamp;

    @Option(names = "--bits", paramLabel = "B", description = "rtn/gptq: bits per weight, 2..8 (default 4)")
    Integer bits;
    @Option(names = "--group-size", paramLabel = "G", description = "rtn/gptq: columns per scale; kmeans/gptvq: columns per codebook group (0 = whole row)")
    Integer groupSize;
    @Option(names = "--symmetric", description = "rtn/gptq: symmetric grid")
    Boolean symmetric;
    @Option(names = "--act-order", description = "gptq: columns in order of decreasing diag H")
    Boolean actOrder;
    @Option(names = "--block-size", paramLabel = "B", description = "gptq/gptvq/vptq: lazy update block (default 128)")
    Integer blockSize;
    @Option(names = "--dim", paramLabel = "D", description = "VQ vector length d, 1..16 (default 2)")
    Integer dim;
    @Option(names = "--centroids", paramLabel = "K", description = "VQ codebook size k, 2..65536 (default 256)")
    Integer centroids;
    @Option(names = "--group-rows", paramLabel = "R", description = "kmeans/gptvq: rows per codebook group (0 = all)")
    Integer groupRows;
    @Option(names = "--iters", paramLabel = "N", description = "k-means iterations (default 25)")
    Integer iters;
    @Option(names = "--tol", paramLabel = "X", description = "k-means relative tolerance (default 1e-4)")
    Double tol;
    @Option(names = "--init", paramLabel = "I", description = "kmeans/gptvq: seeding, kmeans++ or mahalanobis")
    String init;
    @Option(names = "--int8-codebooks", description = "kmeans/gptvq/vptq: int8 codebooks with an fp16 scale")
    Boolean int8;
    @Option(names = "--no-codebook-update", description = "gptvq: skip the codebook update")
    Boolean noUpdate;
    @Option(names = "--block-norm", paramLabel = "C", description = "gptvq: blockwise normalisation, C columns per 4-bit scale")
    Integer blockNorm;
    @Option(names = "--residual-centroids", paramLabel = "K", description = "vptq: a residual stage of K centroids (repeatable)")
    List<Integer> residual;
    @Option(names = "--outlier-percent", paramLabel = "P", description = "vptq: percent of columns with their own codebook")
    Double outlierPercent;
    @Option(names = "--outlier-centroids", paramLabel = "K", description = "vptq: the outlier codebook's size")
    Integer outlierCentroids;
    @Option(names = "--perm", description = "vptq: order columns by diag H")
    Boolean perm;
    @Option(names = "--norm", description = "vptq: per-input-channel scale and bias")
    Boolean norm;
    @Option(names = "--config", paramLabel = "NAME", description = "vptq: a VPTQ-style name, e.g. v8-k65536-256")
    String config;
    @Option(names = "--share-codebooks", paramLabel = "S", description = "kmeans/gptvq/vptq: none (a codebook per layer, default), kind (one per kind of layer, shared by all blocks) or all (one for every layer)")
    String shareCodebooks;

    QuantSpec buildSpec() {
        Map<String, Object> given = new LinkedHashMap<>();
        given.put("--bits", bits);
        given.put("--group-size", groupSize);
        given.put("--symmetric", symmetric);
        given.put("--act-order", actOrder);
        given.put("--block-size", blockSize);
        given.put("--dim", dim);
        given.put("--centroids", centroids);
        given.put("--group-rows", groupRows);
        given.put("--iters", iters);
        given.put("--tol", tol);
        given.put("--init", init);
        given.put("--int8-codebooks", int8);
        given.put("--no-codebook-update", noUpdate);
        given.put("--block-norm", blockNorm);
        given.put("--residual-centroids", residual == null ? null : List.copyOf(residual));
        given.put("--outlier-percent", outlierPercent);
        given.put("--outlier-centroids", outlierCentroids);
        given.put("--perm", perm);
        given.put("--norm", norm);
        given.put("--config", config);
        given.put("--share-codebooks", shareCodebooks);
        given.put("--percdamp", percdamp);
        return QuantOptions.build(method, given);
    }

    @Override
    public Integer call() {
        QuantSpec s = buildSpec();
        PrintWriter outw = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        boolean tty = System.console() != null;
        try (Backend backend = Backends.open(device, m -> {
            err.println("vq: " + m);
            err.flush();
        }); SourceModel source = SourceModel.open(model.model)) {
            Tokenizer tok = SweepOptions.tokenizer(model, source);
            var opts = new QuantizeJob.Options(model.model, calib, tok, s, calibSamples, calibLen, seed, out);
            QuantizeJob.Result r = QuantizeJob.run(source, opts, backend, new QuantizeJob.Listener() {
                int lastBlock = -1;

                @Override
                public void progress(int block, int blocks, int layer, int layers, String name) {
                    int doneLayers = block * layers + layer;
                    int total = blocks * layers;
                    int width = 30;
                    int filled = width * doneLayers / total;
                    String bar = "[" + "#".repeat(filled) + ".".repeat(width - filled) + "]";
                    if (tty) {
                        err.printf("\r%s block %d/%d  %-18s", bar, block + 1, blocks, name);
                        err.flush();
                    } else if (block != lastBlock) {
                        err.printf("%s block %d/%d%n", bar, block + 1, blocks);
                        err.flush();
                    }
                    lastBlock = block;
                }

                @Override
                public void layer(QuantizeJob.LayerReport l) {
                    if (tty) {
                        err.print("\r" + " ".repeat(70) + "\r");
                        err.flush();
                    }
                    outw.printf(Locale.ROOT, "%-36s %5dx%-5d %-6s true %.3f bpw  H-err %.4g (rel %.3g)  %.2fs%n",
                            l.name(), l.rows(), l.cols(), l.method(), l.trueBitsPerWeight(), l.hessianError(),
                            l.relativeError(), l.seconds());
                    outw.flush();
                }

                @Override
                public void info(String line) {
                    err.println("vq: " + line);
                    err.flush();
                }
            });
            PackedStats.Stats st = PackedStats.of(r.out());
            outw.printf(Locale.ROOT, "wrote %s: %d layers, true %.4f bits/weight over the quantized layers (every byte"
                    + " of the files but the unquantized tensors' data%s), %.1fs%n", r.out(), r.layers().size(),
                    st.trueBitsPerWeight(), st.sharedCodebookBytes() > 0
                            ? String.format(Locale.ROOT, "; shared codebooks %,d bytes", st.sharedCodebookBytes()) : "",
                    r.seconds());
            outw.flush();
        }
        return 0;
    }
}
