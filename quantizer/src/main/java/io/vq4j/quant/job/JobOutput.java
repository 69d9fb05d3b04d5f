package io.vq4j.quant.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.model.DenseLinear;
import io.vq4j.model.LayerWeights;
import io.vq4j.model.LinearGroup;
import io.vq4j.pack.PackedLayers;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.quant.method.LayerProblem.SharedCodebook;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.quant.SourceModel;
import io.vq4j.quant.job.QuantizeJob.LayerReport;
import io.vq4j.quant.job.QuantizeJob.Listener;
import io.vq4j.quant.job.QuantizeJob.Options;
import io.vq4j.tokenizer.Llama2cTokenizer;
import io.vq4j.tokenizer.Tokenizer;
import io.vq4j.tokenizer.TokenizerJson;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The packed directory a quantize run writes, and what makes it resumable. A new run first
 * writes the checkpoint record ({@value QuantizeJob#STATE}: the run's fingerprint, the blocks
 * done, their layer reports); block b is then written as its own shard (model-0000{b+1}-of-…),
 * after which the record is replaced atomically. The record lists only shards that were
 * complete when it was written: a shard a kill left unrecorded is not trusted but quantized
 * again (the same bytes, over it). A run with the same fingerprint resumes after the last block
 * recorded and reads the blocks before back; {@code config.json}, written last, marks the
 * directory complete, and the record is removed after it. Temporaries a killed run left
 * ({@code .NAME.<digits>.partial}, for the names written here only) are removed on every start.
 */
final class JobOutput {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The files besides the shards that a run writes into the directory. */
    private static final Set<String> OWN_FILES = Set.of(QuantizeJob.STATE, QuantizeJob.REPORT_JSON,
            QuantizeJob.REPORT_MD, SafeTensorsDirectory.INDEX, "config.json", "tokenizer.json", "tokenizer_config.json",
            "tokenizer.model");
    private final Path out;
    private final String fingerprint;
    private final int blocks;
    /** The --target-bpw plan's record (null for one spec), kept in the checkpoint record. */
    private final ObjectNode plan;

    JobOutput(Path out, String fingerprint, int blocks) {
        this(out, fingerprint, blocks, null);
    }

    JobOutput(Path out, String fingerprint, int blocks, ObjectNode plan) {
        this.out = out;
        this.fingerprint = fingerprint;
        this.blocks = blocks;
        this.plan = plan;
    }

    ObjectNode plan() {
        return plan;
    }

    /** The plan recorded in a directory (checkpoint record first, then a finished report), or null. */
    static ObjectNode recordedPlan(Path out) {
        for (String f : new String[]{QuantizeJob.STATE, QuantizeJob.REPORT_JSON}) {
            Path p = out.resolve(f);
            if (Files.isRegularFile(p)) {
                try {
                    JsonNode n = JSON.readTree(p.toFile()).path(QuantizeJob.PLAN);
                    if (n instanceof ObjectNode o) {
                        return o;
                    }
                } catch (IOException e) {
                    throw InputException.at(p, "cannot read: " + e.getMessage());
                }
            }
        }
        return null;
    }

    Path dir() {
        return out;
    }

    static String shardName(int i, int blocks) {
        return String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, blocks + 1);
    }

    private Path shard(int b) {
        return out.resolve(shardName(b, blocks));
    }

    /**
     * What identifies a run: the spec, the calibration (its tokens), the seed and the model's
     * content ({@link SourceDigest}: a CRC32C of its files, not their names or paths).
     */
    static String fingerprint(SourceModel source, Options o, int n, int len, int[] tokens, LayerPlan plan) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(("vq4j-quantize-2\n" + o.spec() + "\n" + n + "x" + len + "\nseed " + o.seed() + "\n"
                    + source.configJson()).getBytes(StandardCharsets.UTF_8));
            if (plan != null) {
                md.update(("\nplan " + plan.record()).getBytes(StandardCharsets.UTF_8));
            }
            SourceDigest.update(md, source instanceof SourceModel.Hf hf ? hf.dir() : o.model());
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
            throw InputException.at(o.model(), "cannot read: " + e.getMessage());
        }
    }

    private boolean isOurTemporary(String name) {
        String target = AtomicFiles.temporaryTarget(name);
        return target != null && ours(target);
    }

    /** Removes what a killed run of this job left: only temporaries of the names it writes, in a directory known to be its own. */
    private void removeTemporaries(Listener listener) throws IOException {
        int removed = AtomicFiles.removeTemporaries(out, this::ours);
        if (removed > 0) {
            listener.info("removed " + removed + " temporary file" + (removed == 1 ? "" : "s")
                    + " an interrupted run left in " + out);
        }
    }

    /** Whether {@code name} is a file this job writes into the directory. */
    private boolean ours(String name) {
        for (int b = 0; b <= blocks; b++) {
            if (name.equals(shardName(b, blocks))) {
                return true;
            }
        }
        return OWN_FILES.contains(name);
    }

    /**
     * Makes the directory ready and says where to start: 0 for a new run, the number of blocks
     * done for a resumed one (their reports added to {@code reports}), blocks + 1 when the
     * directory is already complete for these arguments. Removes the temporaries a killed run
     * left. Refuses a directory that holds anything else.
     */
    int prepare(List<LayerReport> reports, Listener listener) {
        try {
            if (Files.exists(out) && !Files.isDirectory(out)) {
                throw InputException.at(out, "exists and is not a directory; choose a new --out");
            }
            if (!Files.exists(out)) {
                Files.createDirectories(out);
                return start();
            }
            Path state = out.resolve(QuantizeJob.STATE);
            Path report = out.resolve(QuantizeJob.REPORT_JSON);
            if (Files.isRegularFile(out.resolve("config.json")) && Files.isRegularFile(report)) {
                JsonNode r = JSON.readTree(report.toFile());
                if (fingerprint.equals(r.path("fingerprint").asText())) {
                    reports.addAll(JobReport.readLayers(r.path("layers")));
                    removeTemporaries(listener);
                    Files.deleteIfExists(state); // a kill between config.json and the record's removal
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
                removeTemporaries(listener);
                int done = s.path("blocks_done").asInt();
                for (int b = 0; b < done; b++) {
                    if (!Files.isRegularFile(shard(b))) {
                        throw InputException.at(out, "its checkpoint record lists block " + b + " but "
                                + shardName(b, blocks) + " is missing; remove the directory and start again");
                    }
                }
                if (done < blocks && Files.exists(shard(done))) {
                    listener.info(shardName(done, blocks) + " was written but not recorded before the run stopped;"
                            + " block " + done + " is quantized again");
                }
                reports.addAll(JobReport.readLayers(s.path("layers")));
                return done;
            }
            try (Stream<Path> s = Files.list(out)) { // empty, or what a kill before the first record left
                if (!s.allMatch(p -> isOurTemporary(p.getFileName().toString()))) {
                    throw InputException.at(out, "exists and is not empty; choose a new --out");
                }
            }
            removeTemporaries(listener);
            return start();
        } catch (IOException e) {
            throw InputException.at(out, "cannot prepare the output directory: " + e.getMessage());
        }
    }

    /** The first checkpoint record, before anything else is written: every later file belongs to a recorded run. */
    private int start() {
        record(0, List.of());
        HaltPoint.reached("start");
        return 0;
    }

    private void record(int blocksDone, List<LayerReport> reports) {
        ObjectNode s = JSON.createObjectNode();
        s.put("fingerprint", fingerprint);
        s.put("blocks_done", blocksDone);
        s.set("layers", JobReport.layersJson(reports));
        if (plan != null) {
            s.set(QuantizeJob.PLAN, plan);
        }
        writeText(out.resolve(QuantizeJob.STATE), s.toPrettyString());
    }

    /**
     * Block b's shard (its packed layers, in order; the shared codebooks, given for the first
     * block only; the source's unquantized tensors of the block), then the checkpoint record
     * with every layer reported so far.
     */
    void writeBlock(int b, Map<String, PackedLayers.Packed> packed, Collection<SharedCodebook> shared,
                    SourceModel source, List<LayerReport> reports) {
        SafeTensorsWriter w = new SafeTensorsWriter();
        w.metadata("format", "pt");
        packed.values().forEach(p -> PackedLayers.write(p, w));
        for (SharedCodebook sc : shared) {
            PackedLayers.Part part = PackedLayers.sharedCodebook(sc.tensor(), sc.k(), sc.d(), sc.book());
            w.addBytes(part.name(), part.dtype(), part.shape(), part.bytes());
        }
        source.addBlockExtras(b, w);
        write(w, shard(b));
        HaltPoint.reached("block-" + b + "-shard");
        record(b + 1, reports);
        HaltPoint.reached("block-" + b + "-record");
    }

    /** Block b as written, dequantized (the weights the uninterrupted run continued with). */
    LayerWeights readBlock(int b, LayerWeights source) {
        Path shard = shard(b);
        try (SafeTensorsFile f = SafeTensorsFile.open(shard);
             SafeTensorsFile first = b == 0 ? null : SafeTensorsFile.open(shard(0))) {
            LayerWeights lw = source;
            PackedLayers.TensorSource src = first == null ? PackedLayers.TensorSource.of(f)
                    : PackedLayers.TensorSource.of(f, first);
            for (LinearGroup group : LinearGroup.values()) {
                for (String linear : group.linears()) {
                    String name = SourceModel.prefix(b) + linear;
                    PackedMatrix q = PackedLayers.read(name, f.metadata().get(PackedLayers.META_PREFIX + name), src);
                    DenseLinear dl = (DenseLinear) source.linear(linear);
                    lw = lw.with(linear, new DenseLinear(q.dequantize(), dl.bias(), dl.outFeatures(), dl.inFeatures()));
                }
            }
            return lw;
        } catch (IllegalArgumentException | NullPointerException e) {
            throw InputException.at(shard, "cannot be resumed from: " + e.getMessage());
        }
    }

    /**
     * Completes the directory, in this order: the last shard (the source's tensors outside the
     * blocks), the tokenizer, quantize-report.md, the shard index, quantize-report.json,
     * config.json (with its quantization_config); then the checkpoint record goes.
     */
    void finish(SourceModel source, Tokenizer tokenizer, QuantSpec spec, ObjectNode report, String markdown) {
        SafeTensorsWriter rest = new SafeTensorsWriter();
        rest.metadata("format", "pt");
        source.addRest(rest);
        write(rest, shard(blocks));
        HaltPoint.reached("finish-" + shardName(blocks, blocks));
        try {
            copyTokenizer(source, tokenizer);
        } catch (IOException e) {
            throw InputException.at(out, "cannot write the tokenizer: " + e.getMessage());
        }
        HaltPoint.reached("finish-tokenizer");
        // the index: every tensor of every shard
        ObjectNode index = JSON.createObjectNode();
        ObjectNode map = index.putObject("weight_map");
        long total = 0;
        for (int b = 0; b <= blocks; b++) {
            Path shard = shard(b);
            try (SafeTensorsFile f = SafeTensorsFile.open(shard)) {
                for (String t : f.names()) {
                    map.put(t, shard.getFileName().toString());
                    total += f.info(t).bytes();
                }
            }
        }
        index.putObject("metadata").put("total_size", total);
        writeText(out.resolve(QuantizeJob.REPORT_MD), markdown);
        writeText(out.resolve(SafeTensorsDirectory.INDEX), index.toPrettyString());
        ObjectNode config = source.configJson();
        ObjectNode qc = config.putObject("quantization_config");
        qc.put("quant_method", "vq4j");
        qc.put("format", PackedLayers.FORMAT); // the layouts' format, as each layout records it
        qc.put("method", plan == null ? spec.method() : "mixed");
        qc.set("spec", JSON.valueToTree(spec));
        writeText(out.resolve(QuantizeJob.REPORT_JSON), report.toPrettyString());
        writeText(out.resolve("config.json"), config.toPrettyString());
        try {
            Files.deleteIfExists(out.resolve(QuantizeJob.STATE));
        } catch (IOException e) {
            throw InputException.at(out.resolve(QuantizeJob.STATE), "cannot remove: " + e.getMessage());
        }
    }

    private void copyTokenizer(SourceModel source, Tokenizer tokenizer) throws IOException {
        if (tokenizer instanceof Llama2cTokenizer l2c) {
            TokenizerJson.write(l2c, out);
        } else if (source instanceof SourceModel.Hf hf) {
            for (String f : new String[]{"tokenizer.json", "tokenizer_config.json", "tokenizer.model"}) {
                Path p = hf.dir().resolve(f);
                if (Files.isRegularFile(p)) {
                    AtomicFiles.write(out.resolve(f), Files.readAllBytes(p));
                }
            }
        }
    }

    private static void write(SafeTensorsWriter w, Path target) {
        try {
            w.write(target);
        } catch (IOException e) {
            throw InputException.at(target, "cannot write: " + e.getMessage());
        }
    }

    /** A text file under a temporary name, then renamed onto {@code target}; on an error no temporary stays. */
    static void writeText(Path target, String text) {
        try {
            Path tmp = AtomicFiles.tempFileBeside(target);
            try {
                Files.writeString(tmp, text);
                HaltPoint.reached("partial-" + target.getFileName());
                AtomicFiles.commit(tmp, target);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw InputException.at(target, "cannot write: " + e.getMessage());
        }
        HaltPoint.reached("finish-" + target.getFileName());
    }
}
