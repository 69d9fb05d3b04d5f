package io.vq4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cCheckpointTest {
    @TempDir
    Path dir;

    private void fails(byte[] bytes, String problem) throws IOException {
        Path p = dir.resolve("m.bin");
        Files.write(p, bytes);
        InputException e = assertThrows(InputException.class, () -> Llama2cCheckpoint.read(p));
        assertTrue(e.getMessage().startsWith(p.toString()) && e.getMessage().contains(problem), e.getMessage());
    }

    @Test
    void headerOfStories260KIsRead() {
        var c = Llama2cCheckpoint.readConfig(SharedData.stories260K());
        assertEquals(64, c.dim());
        assertEquals(172, c.hiddenDim());
        assertEquals(4, c.nKvHeads());
        assertTrue(c.tieWordEmbeddings());
    }

    @Test
    void truncatedAndPaddedFilesAreRejected() throws IOException {
        byte[] all = Files.readAllBytes(SharedData.stories260K());
        fails(Arrays.copyOf(all, all.length - 4), "truncated");
        fails(Arrays.copyOf(all, all.length + 4), "trailing bytes");
        fails(Arrays.copyOf(all, 10), "too short");
    }

    @Test
    void nonsenseHeadersAreRejected() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(64).putInt(172).putInt(5).putInt(7).putInt(4).putInt(512).putInt(512);
        fails(b.array(), "does not split dim");
        b.clear();
        b.putInt(64).putInt(-1).putInt(5).putInt(8).putInt(4).putInt(512).putInt(512);
        fails(b.array(), "non-positive");
        b.clear();
        b.putInt(64).putInt(172).putInt(5).putInt(8).putInt(3).putInt(512).putInt(512);
        fails(b.array(), "does not divide");
    }

    @Test
    void headersWhoseSizesOverflowAreRejectedBeforeAnyAllocation() throws IOException {
        // the audit's crafted 8 KB file: with wrapping long arithmetic its implied size equals
        // the file's, and reading it then allocated gigabytes and crashed
        for (int[] h : new int[][]{{1073741824, 1431655763, 1, 536870912, 536870912, 1, 1610613736},
                {Integer.MAX_VALUE - 1, Integer.MAX_VALUE, Integer.MAX_VALUE, 1, 1, Integer.MAX_VALUE, 2}}) {
            ByteBuffer b = ByteBuffer.allocate(8192).order(ByteOrder.LITTLE_ENDIAN);
            for (int v : h) {
                b.putInt(v);
            }
            fails(b.array(), "implies more than 2^63 bytes");
        }
    }

    @Test
    void aNonFiniteWeightIsAnInputErrorNamingTheTensor() throws IOException {
        byte[] all = Files.readAllBytes(SharedData.stories260K());
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int dim = b.getInt(0);
        int vocab = Math.abs(b.getInt(20));
        // the first float after the embedding table and the first layer's attention norm: wq[0][0]
        int at = 28 + 4 * (vocab * dim + 5 * dim);
        b.putFloat(at, Float.NaN);
        fails(all, "tensor wq[0] has a non-finite value (NaN) at index 0 (byte " + at + ")");
    }
}
