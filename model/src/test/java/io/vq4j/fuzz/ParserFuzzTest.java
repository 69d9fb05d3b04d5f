package io.vq4j.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.vq4j.core.InputException;
import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.model.HfCheckpoints;
import io.vq4j.model.Llama2cCheckpoint;
import io.vq4j.model.LlamaCheckpoint;
import io.vq4j.model.LlamaConfig;
import io.vq4j.model.SyntheticModel;
import io.vq4j.tokenizer.HfTokenizer;
import io.vq4j.tokenizer.Llama2cTokenizer;
import io.vq4j.tokenizer.TokenizerJson;
import io.vq4j.testing.Mutations;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fixed-seed corpus of mutations of each parser's input (safetensors, config.json,
 * tokenizer.json, llama2.c checkpoints): every mutant is either read or refused with an
 * {@link InputException}; any other exception or error (an index error, an overflow, an
 * out-of-memory) fails the test, naming the seed and the mutation. An accepted safetensors file
 * must describe exactly its bytes: its tensors cover the data area, and every float tensor reads.
 */
class ParserFuzzTest {
    @TempDir
    Path tmp;

    /** Runs {@code count} mutants of {@code seed} through {@code parse}; only InputException may come out. */
    private void fuzz(String what, byte[] seed, long salt, int count, Path file, Parser parse) throws IOException {
        SplittableRandom r = new SplittableRandom(salt);
        int accepted = 0;
        for (int i = 0; i < count; i++) {
            byte[] m = Mutations.mutate(seed, r);
            Files.write(file, m);
            try {
                parse.run(file, m);
                accepted++;
            } catch (InputException e) {
                assertEquals(1, e.getMessage().lines().count(), what + " mutant " + i + ": one line: " + e.getMessage());
            } catch (Throwable t) {
                fail(what + " mutant " + i + " (salt " + salt + ") threw " + t, t);
            }
        }
        // the corpus must exercise both outcomes, or it tests nothing
        assertTrue(accepted > 0 && accepted < count, what + ": " + accepted + " of " + count + " accepted");
    }

    interface Parser {
        void run(Path file, byte[] bytes) throws Exception;
    }

    @Test
    void safetensors() throws IOException {
        SplittableRandom r = new SplittableRandom(1);
        float[] a = new float[24];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        Path seedFile = tmp.resolve("seed.safetensors");
        new SafeTensorsWriter().metadata("format", "pt").addFloats("a", DType.F32, new long[] {4, 6}, a)
                .addFloats("b", DType.F16, new long[] {3, 2}, Arrays.copyOf(a, 6))
                .addFloats("c", DType.BF16, new long[] {5}, Arrays.copyOf(a, 5))
                .addBytes("i", DType.I32, new long[] {2}, new byte[8]).write(seedFile);
        byte[] seed = Files.readAllBytes(seedFile);
        fuzz("safetensors", seed, 11, 2500, tmp.resolve("m.safetensors"), (file, bytes) -> {
            try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
                long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
                long covered = 0;
                for (SafeTensorsFile.TensorInfo t : f.tensors().values()) {
                    covered += t.bytes();
                    assertEquals(t.elements() * t.dtype().bytes(), t.bytes(), t.name());
                    if (t.dtype().isFloating()) {
                        try {
                            assertEquals(t.elements(), f.floats(t.name()).length, t.name());
                        } catch (InputException e) {
                            assertTrue(e.getMessage().contains("non-finite"), e.getMessage());
                        }
                    }
                }
                assertEquals(bytes.length - 8 - headerLength, covered, "an accepted file's tensors cover its data");
            }
        });
    }

    @Test
    void configJson() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("hf"));
        LlamaConfig c = SyntheticModel.config(16, 24, 2, 4, 2, 32, 64);
        LlamaCheckpoint ckpt = SyntheticModel.create(c, 3);
        HfCheckpoints.write(ckpt, dir, DType.F32);
        byte[] seed = Files.readAllBytes(dir.resolve("config.json"));
        fuzz("config.json", seed, 12, 2000, dir.resolve("config.json"), (file, bytes) -> {
            HfCheckpoints.read(dir);
        });
    }

    @Test
    void tokenizerJson() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("tok"));
        Path file = TokenizerJson.write(Llama2cTokenizer.read(SharedData.tok512()), dir);
        byte[] seed = Files.readAllBytes(file);
        String text = "Once upon a time, there was a little girl named Lily.";
        fuzz("tokenizer.json", seed, 13, 600, file, (f, bytes) -> {
            HfTokenizer t = HfTokenizer.read(f);
            int[] ids = t.encode(text, true);
            for (int id : ids) {
                assertTrue(id >= 0 && id < t.vocabSize(), "id " + id);
            }
            t.decode(ids);
        });
    }

    @Test
    void llama2cCheckpoint() throws IOException {
        byte[] real = Files.readAllBytes(SharedData.stories260K());
        fuzz("llama2.c", real, 14, 300, tmp.resolve("m.bin"), (file, bytes) -> {
            Llama2cCheckpoint.read(file);
        });
    }
}
