package io.vq4j.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.Backend;
import io.vq4j.model.ActivationHook;
import io.vq4j.model.DecoderBlock;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.LinearGroup;
import io.vq4j.model.LlamaConfig;
import io.vq4j.pack.PackedLayers;
import io.vq4j.pack.QuantizedLayer;
import io.vq4j.tokenizer.Llama2cTokenizer;
import io.vq4j.tokenizer.Tokenizer;
import io.vq4j.tokenizer.TokenizerJson;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * `vq quantize`: calibrate, quantize block by block (true-sequential), write the packed
 * directory. Each decoder block is calibrated on the outputs of the already-quantized blocks
 * before it, and within a block on its already-quantized sub-layers: q/k/v (one shared H), then
 * o, then gate/up (one shared H), then down. Each finished block is written as its own shard
 * with a checkpoint record; a run started again with the same arguments resumes after the last
 * finished block and ends with the same bytes. config.json, written last, marks the directory
 * complete. Memory: the calibration activations (n × L × dim), one block's weights and its
 * Hessians; the source stays memory-mapped.
 */
public final class QuantizeJob {
    public static final String STATE = ".vq4j-quantize-state.json";
    public static final String REPORT_JSON = "quantize-report.json";
    public static final String REPORT_MD = "quantize-report.md";
    private static final ObjectMapper JSON = new ObjectMapper();

    private QuantizeJob() {
    }

    /**
     * @param calibSamples n sequences
     * @param calibLen     L tokens each (0 = min(512, the model's max sequence length))
     */
    public record Options(Path model, Path calib, Tokenizer tokenizer, QuantSpec spec, int calibSamples, int calibLen,
                          long seed, Path out) {
    }

    /** One quantized layer, as logged and reported. */
    public record LayerReport(String name, int rows, int cols, String method, double nominalBitsPerWeight,
                              double trueBitsPerWeight, long bytes, double hessianError, double relativeError,
                              double seconds) {
    }

    public record Result(Path out, List<LayerReport> layers, int blocksResumed, double seconds) {
    }

    /** Progress and per-layer log lines. */
    public interface Listener {
        default void progress(int block, int blocks, int layer, int layers, String name) {
        }

        default void layer(LayerReport r) {
        }

        default void info(String line) {
        }

        /** Block b is quantized and written; {@code quantized} holds its dequantized weights. */
        default void blockDone(int b, LayerWeights quantized) {
        }
    }

    public static Result run(SourceModel source, Options o, Backend backend, Listener listener) {
        long t0 = System.nanoTime();
        LlamaConfig c = source.config();
        QuantSpec spec = o.spec();
        LayerQuantizer quantizer = validate(spec, c);
        int n = o.calibSamples();
        int len = o.calibLen() > 0 ? o.calibLen() : Math.min(512, c.maxSeqLen());
        if (n < 1) {
            throw new InputException("--calib-samples: must be at least 1, got " + n);
        }
        if (len < 2 || len > c.maxSeqLen()) {
            throw new InputException("--calib-len: must be 2.." + c.maxSeqLen() + " (the model's max sequence length), got " + len);
        }
        int[] tokens = calibrationTokens(o.calib(), o.tokenizer(), n, len);
        source.checkFinite();
        String fingerprint = fingerprint(source, o, n, len, tokens);
        Path out = o.out().toAbsolutePath().normalize();
        int blocks = c.nLayers();
        List<LayerReport> reports = new ArrayList<>();
        int done = prepareOutput(out, fingerprint, blocks, reports);
        if (done > blocks) {
            listener.info(out + " is already complete");
            return new Result(out, reports, blocks, 0);
        }

        float[][] x = new float[n][];
        for (int s = 0; s < n; s++) {
            x[s] = source.embed(tokens, s * len, len);
        }
        DecoderBlock block = new DecoderBlock(c);
        Map<String, LayerProblem.SharedCodebook> shared = Map.of();
        if (spec.sharesCodebooks()) { // fitted again on a resumed run: deterministic, same bytes
            listener.info("fitting the shared codebooks (--share-codebooks " + spec.shareCodebooks() + ")");
            shared = SharedCodebooks.fit(source, spec, x, len, backend, o.seed(), linearSteps());
        }
        if (done > 0) {
            listener.info("resuming after block " + done + " of " + blocks + " (" + out.resolve(STATE).getFileName() + ")");
            for (int b = 0; b < done; b++) {
                block.forward(readBlock(out, b, blocks, source.block(b), c), x, len, null);
            }
        }
        Map<String, LayerProblem.SharedCodebook> sharedBooks = shared;
        for (int b = done; b < blocks; b++) {
            List<QuantizedLayer> packed = new ArrayList<>();
            List<String> names = new ArrayList<>();
            int block0 = b;
            LayerWeights lw = block.forward(source.block(b), x, len, new ActivationHook() {
                HessianAccumulator acc;
                int layerNo;

                @Override
                public void input(LinearGroup group, int sequence, float[] in, int rows) {
                    if (acc == null) {
                        acc = new HessianAccumulator(backend, group.inputWidth(c));
                    }
                    acc.add(in, rows);
                }

                @Override
                public LayerWeights weights(LinearGroup group, LayerWeights lw) {
                    double[] h = acc.hessian(spec.percdamp());
                    acc = null; // its double sums are the largest thing a block holds
                    float[] hf = new float[h.length];
                    for (int i = 0; i < h.length; i++) {
                        hf[i] = (float) h[i];
                    }
                    for (String linear : group.linears()) {
                        String name = SourceModel.prefix(block0) + linear;
                        listener.progress(block0, blocks, layerNo++, 7, linear);
                        DenseLinear dl = (DenseLinear) lw.linear(linear);
                        float[] w = dl.weight();
                        long l0 = System.nanoTime();
                        QuantizedLayer q = quantizer.quantize(new LayerProblem(name, w, dl.outFeatures(),
                                dl.inFeatures(), quantizer.needsHessian() ? h : null, spec, backend,
                                LayerProblem.layerSeed(o.seed(), name),
                                spec.sharesCodebooks() ? sharedBooks.get(SharedCodebooks.key(spec, linear)) : null));
                        double secs = (System.nanoTime() - l0) / 1e9;
                        float[] wq = q.dequantize();
                        LayerReport r = report(name, q, w, wq, hf, backend, secs);
                        reports.add(r);
                        listener.layer(r);
                        packed.add(q);
                        names.add(name);
                        lw = lw.with(linear, new DenseLinear(wq, dl.bias(), dl.outFeatures(), dl.inFeatures()));
                    }
                    return lw;
                }
            });
            SafeTensorsWriter w = new SafeTensorsWriter();
            w.metadata("format", "pt");
            for (int i = 0; i < packed.size(); i++) {
                PackedLayers.write(names.get(i), packed.get(i), w);
            }
            if (b == 0) { // every shared codebook once, in the first block's shard
                for (LayerProblem.SharedCodebook sc : shared.values()) {
                    PackedLayers.Part part = PackedLayers.sharedCodebook(sc.tensor(), sc.k(), sc.d(), sc.book());
                    w.addBytes(part.name(), part.dtype(), part.shape(), part.bytes());
                }
            }
            source.addBlockExtras(b, w);
            write(w, out.resolve(shardName(b, blocks)));
            writeState(out, fingerprint, b + 1, reports);
            listener.blockDone(b, lw);
        }
        long sharedBytes = 0;
        for (LayerProblem.SharedCodebook sc : shared.values()) {
            sharedBytes += PackedLayers.sharedCodebook(sc.tensor(), sc.k(), sc.d(), sc.book()).bytes().length;
        }
        finish(source, o, out, blocks, reports, len, n, fingerprint, sharedBytes);
        return new Result(out, reports, done, (System.nanoTime() - t0) / 1e9);
    }

    /** The linear layers of a block (HF names) grouped by shared input, in quantization order. */
    public static List<List<String>> linearSteps() {
        return Stream.of(LinearGroup.values()).map(LinearGroup::linears).toList();
    }

    /**
     * The quantizer for a spec, after checking that it can quantize every linear layer of a
     * model of this shape: an input error naming the first layer it cannot, before any work.
     */
    public static LayerQuantizer validate(QuantSpec spec, LlamaConfig c) {
        LayerQuantizer q;
        try {
            q = Methods.forName(spec.method());
        } catch (IllegalArgumentException e) {
            throw new InputException("--method: " + e.getMessage());
        }
        int[][] shapes = {{c.qDim(), c.dim()}, {c.kvDim(), c.dim()}, {c.kvDim(), c.dim()}, {c.dim(), c.qDim()},
                {c.hiddenDim(), c.dim()}, {c.hiddenDim(), c.dim()}, {c.dim(), c.hiddenDim()}};
        String[] names = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
        for (int i = 0; i < shapes.length; i++) {
            try {
                q.validate(spec, shapes[i][0], shapes[i][1]);
            } catch (IllegalArgumentException e) {
                throw new InputException(spec.method() + " on " + names[i] + " (" + shapes[i][0] + "x" + shapes[i][1]
                        + "): " + e.getMessage());
            }
        }
        if (spec.sharesCodebooks()) {
            Map<String, int[]> byName = new LinkedHashMap<>();
            String[] hf = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
            for (int i = 0; i < shapes.length; i++) {
                byName.put(hf[i], shapes[i]);
            }
            try {
                SharedCodebooks.checkPools(spec, byName, c.nLayers());
            } catch (IllegalArgumentException e) {
                throw new InputException(spec.method() + ": " + e.getMessage());
            }
        }
        return q;
    }

    /** tr((W−Q) H (W−Q)ᵀ) through the backend's gemm, and that relative to tr(W H Wᵀ). */
    private static LayerReport report(String name, QuantizedLayer q, float[] w, float[] wq, float[] hf, Backend backend,
                                      double secs) {
        int rows = q.rows();
        int cols = q.cols();
        float[] delta = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            delta[i] = w[i] - wq[i];
        }
        double err = quadratic(delta, hf, rows, cols, backend);
        double ref = quadratic(w, hf, rows, cols, backend);
        long bytes = layerBytes(name, q);
        return new LayerReport(name, rows, cols, q.method(), PackedLayers.nominalBitsPerWeight(q),
                bytes * 8.0 / q.weights(), bytes, err, ref == 0 ? 0 : err / ref, secs);
    }

    /** tr(A H Aᵀ) for A rows × cols and H cols × cols (float), the product through the backend's gemm. */
    public static double quadratic(float[] a, float[] hf, int rows, int cols, Backend backend) {
        float[] ah = new float[rows * cols];
        backend.gemm(false, false, rows, cols, cols, 1f, a, hf, 0f, ah);
        double s = 0;
        for (int i = 0; i < ah.length; i++) {
            s += (double) a[i] * ah[i];
        }
        return s;
    }

    /** A layer's bytes in the packed file: its tensors' data and its layout record. */
    public static long layerBytes(String name, QuantizedLayer q) {
        long b = PackedLayers.layoutJson(q).getBytes(StandardCharsets.UTF_8).length;
        for (PackedLayers.Part p : PackedLayers.parts(name, q)) {
            b += p.bytes().length;
        }
        return b;
    }

    static String shardName(int i, int blocks) {
        return String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, blocks + 1);
    }

    /**
     * Tokens for calibration: the text is read in pieces of about 64 KiB cut at line ends,
     * each tokenized (BOS before the first), until n × L tokens are there; sequence s is
     * tokens [s·L, (s+1)·L).
     */
    public static int[] calibrationTokens(Path calib, Tokenizer tok, int n, int len) {
        long need = (long) n * len;
        if (need > Integer.MAX_VALUE - 8) {
            throw new InputException("--calib-samples x --calib-len: " + need + " tokens is too many");
        }
        String text;
        try {
            text = Files.readString(calib, StandardCharsets.UTF_8);
        } catch (MalformedInputException e) {
            throw InputException.at(calib, "is not valid UTF-8");
        } catch (IOException e) {
            throw InputException.at(calib, "cannot read: " + e.getMessage());
        }
        int[] out = new int[(int) need];
        int have = 0;
        int pos = 0;
        boolean first = true;
        while (have < need && pos < text.length()) {
            int end = Math.min(text.length(), pos + 65536);
            int nl = text.indexOf('\n', end);
            end = nl < 0 ? text.length() : nl + 1;
            int[] ids = tok.encode(text.substring(pos, end), first);
            first = false;
            int take = (int) Math.min(ids.length, need - have);
            System.arraycopy(ids, 0, out, have, take);
            have += take;
            pos = end;
        }
        if (have < need) {
            throw InputException.at(calib, "gives " + have + " tokens; --calib-samples " + n + " x --calib-len " + len
                    + " needs " + need);
        }
        return out;
    }

    private static String fingerprint(SourceModel source, Options o, int n, int len, int[] tokens) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(("vq4j-quantize-1\n" + o.spec() + "\n" + n + "x" + len + "\nseed " + o.seed() + "\n"
                    + source.configJson()).getBytes(StandardCharsets.UTF_8));
            if (source instanceof SourceModel.Hf hf) {
                try (Stream<Path> s = Files.list(hf.dir())) {
                    for (Path p : s.sorted().toList()) {
                        if (p.getFileName().toString().endsWith(".safetensors")) {
                            md.update((p.getFileName() + " " + Files.size(p) + "\n").getBytes(StandardCharsets.UTF_8));
                        }
                    }
                }
            } else {
                md.update(o.model().toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8));
            }
            for (int t : tokens) {
                md.update((byte) t);
                md.update((byte) (t >>> 8));
                md.update((byte) (t >>> 16));
                md.update((byte) (t >>> 24));
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Makes {@code out} ready and says where to start: 0 for a new run, the number of blocks
     * done for a resumed one, blocks + 1 when the directory is already complete for these
     * arguments. Refuses a directory that holds anything else.
     */
    private static int prepareOutput(Path out, String fingerprint, int blocks, List<LayerReport> reports) {
        try {
            if (Files.exists(out) && !Files.isDirectory(out)) {
                throw InputException.at(out, "exists and is not a directory; choose a new --out");
            }
            if (!Files.exists(out)) {
                Files.createDirectories(out);
                return 0;
            }
            Path state = out.resolve(STATE);
            Path report = out.resolve(REPORT_JSON);
            if (Files.isRegularFile(out.resolve("config.json")) && Files.isRegularFile(report)) {
                JsonNode r = JSON.readTree(report.toFile());
                if (fingerprint.equals(r.path("fingerprint").asText())) {
                    reports.addAll(readReports(r.path("layers")));
                    return blocks + 1;
                }
                throw InputException.at(out, "holds a finished model made with other arguments; choose a new --out");
            }
            if (Files.isRegularFile(state)) {
                JsonNode s = JSON.readTree(state.toFile());
                if (!fingerprint.equals(s.path("fingerprint").asText())) {
                    throw InputException.at(out, "holds an unfinished run with other arguments (model, calibration,"
                            + " method options or seed); remove it or choose a new --out");
                }
                int done = s.path("blocks_done").asInt();
                for (int b = 0; b < done; b++) {
                    if (!Files.isRegularFile(out.resolve(shardName(b, blocks)))) {
                        throw InputException.at(out, "its checkpoint record lists block " + b + " but "
                                + shardName(b, blocks) + " is missing; remove the directory and start again");
                    }
                }
                reports.addAll(readReports(s.path("layers")));
                return done;
            }
            try (Stream<Path> s = Files.list(out)) {
                if (s.findAny().isPresent()) {
                    throw InputException.at(out, "exists and is not empty; choose a new --out");
                }
            }
            return 0;
        } catch (IOException e) {
            throw InputException.at(out, "cannot prepare the output directory: " + e.getMessage());
        }
    }

    private static List<LayerReport> readReports(JsonNode a) {
        List<LayerReport> out = new ArrayList<>();
        for (JsonNode r : a) {
            out.add(new LayerReport(r.path("name").asText(), r.path("rows").asInt(), r.path("cols").asInt(),
                    r.path("method").asText(), r.path("nominal_bits_per_weight").asDouble(),
                    r.path("true_bits_per_weight").asDouble(), r.path("bytes").asLong(),
                    r.path("hessian_error").asDouble(), r.path("relative_error").asDouble(),
                    r.path("seconds").asDouble()));
        }
        return out;
    }

    private static ArrayNode reportsJson(List<LayerReport> reports) {
        ArrayNode a = JSON.createArrayNode();
        for (LayerReport r : reports) {
            ObjectNode o = a.addObject();
            o.put("name", r.name());
            o.put("rows", r.rows());
            o.put("cols", r.cols());
            o.put("method", r.method());
            o.put("nominal_bits_per_weight", r.nominalBitsPerWeight());
            o.put("true_bits_per_weight", r.trueBitsPerWeight());
            o.put("bytes", r.bytes());
            o.put("hessian_error", r.hessianError());
            o.put("relative_error", r.relativeError());
            o.put("seconds", r.seconds());
        }
        return a;
    }

    private static void writeState(Path out, String fingerprint, int done, List<LayerReport> reports) {
        ObjectNode s = JSON.createObjectNode();
        s.put("fingerprint", fingerprint);
        s.put("blocks_done", done);
        s.set("layers", reportsJson(reports));
        writeText(out.resolve(STATE), s.toPrettyString());
    }

    private static void write(SafeTensorsWriter w, Path target) {
        try {
            w.write(target);
        } catch (IOException e) {
            throw InputException.at(target, "cannot write: " + e.getMessage());
        }
    }

    static void writeText(Path target, String text) {
        try {
            Path tmp = AtomicFiles.tempFileBeside(target);
            Files.writeString(tmp, text);
            AtomicFiles.commit(tmp, target);
        } catch (IOException e) {
            throw InputException.at(target, "cannot write: " + e.getMessage());
        }
    }

    /** Block b of a packed directory, dequantized (the weights the uninterrupted run continued with). */
    private static LayerWeights readBlock(Path out, int b, int blocks, LayerWeights source, LlamaConfig c) {
        Path shard = out.resolve(shardName(b, blocks));
        try (SafeTensorsFile f = SafeTensorsFile.open(shard);
             SafeTensorsFile first = b == 0 ? null : SafeTensorsFile.open(out.resolve(shardName(0, blocks)))) {
            LayerWeights lw = source;
            PackedLayers.TensorSource src = first == null ? PackedLayers.TensorSource.of(f) : PackedLayers.TensorSource.of(f, first);
            for (LinearGroup group : LinearGroup.values()) {
                for (String linear : group.linears()) {
                    String name = SourceModel.prefix(b) + linear;
                    QuantizedLayer q = PackedLayers.read(name, f.metadata().get(PackedLayers.META_PREFIX + name), src);
                    DenseLinear dl = (DenseLinear) source.linear(linear);
                    lw = lw.with(linear, new DenseLinear(q.dequantize(), dl.bias(), dl.outFeatures(), dl.inFeatures()));
                }
            }
            return lw;
        } catch (IllegalArgumentException | NullPointerException e) {
            throw InputException.at(shard, "cannot be resumed from: " + e.getMessage());
        }
    }

    private static void copyTokenizer(SourceModel source, Options o, Path out) throws IOException {
        if (o.tokenizer() instanceof Llama2cTokenizer l2c) {
            TokenizerJson.write(l2c, out);
        } else if (source instanceof SourceModel.Hf hf) {
            for (String f : new String[]{"tokenizer.json", "tokenizer_config.json", "tokenizer.model"}) {
                Path p = hf.dir().resolve(f);
                if (Files.isRegularFile(p)) {
                    Files.copy(p, out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    private static void finish(SourceModel source, Options o, Path out, int blocks, List<LayerReport> reports, int len,
                               int n, String fingerprint, long sharedBytes) {
        SafeTensorsWriter rest = new SafeTensorsWriter();
        rest.metadata("format", "pt");
        source.addRest(rest);
        write(rest, out.resolve(shardName(blocks, blocks)));
        try {
            copyTokenizer(source, o, out);
        } catch (IOException e) {
            throw InputException.at(out, "cannot write the tokenizer: " + e.getMessage());
        }
        // the index: every tensor of every shard
        ObjectNode index = JSON.createObjectNode();
        ObjectNode map = index.putObject("weight_map");
        long total = 0;
        for (int b = 0; b <= blocks; b++) {
            Path shard = out.resolve(shardName(b, blocks));
            try (SafeTensorsFile f = SafeTensorsFile.open(shard)) {
                for (String t : f.names()) {
                    map.put(t, shard.getFileName().toString());
                    total += f.info(t).bytes();
                }
            }
        }
        index.putObject("metadata").put("total_size", total);

        ObjectNode report = JSON.createObjectNode();
        report.put("fingerprint", fingerprint);
        report.put("method", o.spec().method());
        report.set("spec", JSON.valueToTree(o.spec()));
        report.put("calib_samples", n);
        report.put("calib_len", len);
        report.put("seed", o.seed());
        // the layers' own bytes plus the codebooks they share (stored once)
        long bytes = reports.stream().mapToLong(LayerReport::bytes).sum() + sharedBytes;
        long weights = reports.stream().mapToLong(r -> (long) r.rows() * r.cols()).sum();
        report.put("shared_codebook_bytes", sharedBytes);
        report.put("layers_true_bits_per_weight", bytes * 8.0 / weights);
        report.put("layers_nominal_bits_per_weight",
                reports.stream().mapToDouble(r -> r.nominalBitsPerWeight() * r.rows() * r.cols()).sum() / weights);
        report.set("layers", reportsJson(reports));
        writeText(out.resolve(REPORT_MD), markdown(o, reports, bytes, weights, sharedBytes));
        writeText(out.resolve(SafeTensorsDirectory.INDEX), index.toPrettyString());
        ObjectNode config = source.configJson();
        ObjectNode qc = config.putObject("quantization_config");
        qc.put("quant_method", "vq4j");
        qc.put("format", 1);
        qc.put("method", o.spec().method());
        qc.set("spec", JSON.valueToTree(o.spec()));
        writeText(out.resolve(REPORT_JSON), report.toPrettyString());
        writeText(out.resolve("config.json"), config.toPrettyString());
        try {
            Files.deleteIfExists(out.resolve(STATE));
        } catch (IOException e) {
            throw InputException.at(out.resolve(STATE), "cannot remove: " + e.getMessage());
        }
    }

    private static String markdown(Options o, List<LayerReport> reports, long bytes, long weights, long sharedBytes) {
        StringBuilder sb = new StringBuilder();
        sb.append("# vq quantize report\n\n");
        sb.append("- model: `").append(o.model()).append("`\n");
        sb.append("- method: `").append(o.spec().method()).append("`\n");
        sb.append("- spec: `").append(o.spec()).append("`\n");
        sb.append(String.format(Locale.ROOT, "- quantized layers: %d, %,d weights, %,d bytes, true %.4f bits/weight%n%n",
                reports.size(), weights, bytes, bytes * 8.0 / weights));
        if (sharedBytes > 0) {
            sb.setLength(sb.length() - 1);
            sb.append(String.format(Locale.ROOT, "- of which shared codebooks (--share-codebooks %s, stored once): %,d"
                    + " bytes; the per-layer rows below count each layer's own tensors only%n%n",
                    o.spec().shareCodebooks(), sharedBytes));
        }
        sb.append("| layer | shape | method | nominal bpw | true bpw | H-weighted error | relative | seconds |\n");
        sb.append("|---|---|---|---:|---:|---:|---:|---:|\n");
        for (LayerReport r : reports) {
            sb.append(String.format(Locale.ROOT, "| %s | %dx%d | %s | %.3f | %.3f | %.4g | %.4g | %.2f |%n", r.name(),
                    r.rows(), r.cols(), r.method(), r.nominalBitsPerWeight(), r.trueBitsPerWeight(), r.hessianError(),
                    r.relativeError(), r.seconds()));
        }
        return sb.toString();
    }
}
