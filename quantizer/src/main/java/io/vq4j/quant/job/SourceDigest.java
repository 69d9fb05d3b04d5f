package io.vq4j.quant.job;

import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * The source model's part of a run's fingerprint: a CRC32C of every byte of the files the
 * model is read from (the file itself, or a Hugging Face directory's config.json, safetensors
 * shards, shard index and tokenizer files, or a directory's ONNX files). Names and sizes alone let a model replaced between
 * a kill and the restart be resumed as if it were the first one, mixing the two. CRC32C is an
 * intrinsic; over a memory-mapped, page-cached 1 GiB file it ran at 6.1 GB/s (median of 5) on
 * this project's 2-core machine at load 3, 0.7 GB/s at load 19 (2026-12-02): a 13 GB fp16 7B
 * model costs 2–20 s at start (more when it must come from disk), next to hours of quantizing.
 */
public final class SourceDigest {
    private static final Set<String> HF_FILES = Set.of("config.json", "tokenizer.json", "tokenizer_config.json",
            "tokenizer.model");
    /** Bytes mapped at a time. */
    private static final long WINDOW = 1L << 28;

    private SourceDigest() {
    }

    /** The files the model at {@code model} is read from, in name order. */
    static List<Path> files(Path model) throws IOException {
        if (!Files.isDirectory(model)) {
            return List.of(model);
        }
        try (Stream<Path> s = Files.list(model)) {
            return s.filter(p -> {
                String n = p.getFileName().toString();
                return Files.isRegularFile(p) && (HF_FILES.contains(n) || n.endsWith(".safetensors")
                        || n.endsWith(".safetensors.index.json") || n.endsWith(".onnx"));
            }).sorted().toList();
        }
    }

    /** "name size crc32c" of each of the model's files, a line each (the sweeps' fingerprints use it too). */
    public static String stamp(Path model) throws IOException {
        StringBuilder b = new StringBuilder();
        for (Path p : files(model)) {
            b.append(p.getFileName()).append(' ').append(Files.size(p)).append(' ')
                    .append(Long.toHexString(crc32c(p))).append('\n');
        }
        return b.toString();
    }

    /** Adds the model's {@link #stamp} to {@code md}. */
    static void update(MessageDigest md, Path model) throws IOException {
        md.update(stamp(model).getBytes(StandardCharsets.UTF_8));
    }

    static long crc32c(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            for (long at = 0; at < size; at += WINDOW) {
                MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, at, Math.min(WINDOW, size - at));
                crc.update(b);
            }
        }
        return crc.getValue();
    }
}
