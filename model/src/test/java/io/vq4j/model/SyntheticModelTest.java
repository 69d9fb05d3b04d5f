package io.vq4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.testing.SyntheticCheckpoints;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Synthetic heavy-tailed models: streamed to disk they are the same weights as built in memory. */
class SyntheticModelTest {
    @TempDir
    Path tmp;

    // vocab × dim = 3 blocks of 64 Ki values plus a partial one, so block edges are exercised
    private static final LlamaConfig SMALL = SyntheticModel.config(48, 64, 2, 4, 2, 4200, 64);

    @Test
    void streamedCheckpointHoldsExactlyTheInMemoryWeights() {
        LlamaCheckpoint expected = SyntheticModel.create(SMALL, 9);
        Path dir = tmp.resolve("m");
        // two blocks per write: the streaming loop goes round more than once and ends on a partial chunk
        HfCheckpoints.writeTensors(SMALL, dir, DType.F32, SyntheticModel.tensors(SMALL, 9, DType.F32, 2), null);
        LlamaCheckpoint got = HfCheckpoints.read(dir);
        assertEquals(SMALL, got.config());
        assertArrayEquals(expected.weights().tokenEmbedding(), got.weights().tokenEmbedding());
        assertArrayEquals(expected.weights().finalNorm(), got.weights().finalNorm());
        for (int l = 0; l < SMALL.nLayers(); l++) {
            LayerWeights e = expected.weights().layers().get(l);
            LayerWeights g = got.weights().layers().get(l);
            Linear[][] pairs = {{e.wq(), g.wq()}, {e.wk(), g.wk()}, {e.wv(), g.wv()}, {e.wo(), g.wo()},
                {e.w1(), g.w1()}, {e.w2(), g.w2()}, {e.w3(), g.w3()}};
            for (Linear[] p : pairs) {
                assertArrayEquals(((DenseLinear) p[0]).weight(), ((DenseLinear) p[1]).weight(), "layer " + l);
            }
            assertArrayEquals(e.attnNorm(), g.attnNorm());
        }
    }

    @Test
    void differentSeedsGiveDifferentWeights() {
        float[] a = SyntheticModel.create(SMALL, 1).weights().tokenEmbedding();
        float[] b = SyntheticModel.create(SMALL, 2).weights().tokenEmbedding();
        assertTrue(a[0] != b[0] || a[1] != b[1]);
    }

    @Test
    void weightsAreHeavyTailedWithTheIntendedScale() {
        LlamaCheckpoint c = SyntheticModel.create(SMALL, 3);
        float[] e = c.weights().tokenEmbedding();
        double sum2 = 0;
        double sum4 = 0;
        for (float v : e) {
            sum2 += (double) v * v;
            sum4 += (double) v * v * v * v;
        }
        double var = sum2 / e.length;
        double kurtosis = sum4 / e.length / (var * var);
        assertEquals(0.02, Math.sqrt(var), 0.02 * 0.15, "embedding std");
        assertTrue(kurtosis > 4.5, "kurtosis " + kurtosis + " (a Gaussian has 3)");
    }

    @Test
    void aSyntheticWriterCanBeWrittenOnlyOnce() throws IOException {
        LlamaConfig tiny = SyntheticModel.config(8, 8, 1, 2, 1, 4, 8);
        SafeTensorsWriter w = SyntheticModel.tensors(tiny, 1, DType.F32);
        w.write(tmp.resolve("a.safetensors"));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.write(tmp.resolve("b.safetensors")));
        assertTrue(e.getMessage().contains("generated twice"), e.getMessage());
    }

    @Test
    void benchmarkModelHasAboutOneHundredMillionParameters() {
        LlamaConfig c = SyntheticCheckpoints.hundredMillion();
        // 32000·768 embedding (tied) + 12 × (2·768² q,o + 2·768·256 k,v + 3·768·2048 mlp + 2·768 norms) + 768
        assertEquals(100_092_672L, c.parameterCount());
        assertEquals(768, c.dim());
        assertEquals(4, c.nKvHeads());
        assertTrue(c.tieWordEmbeddings());
    }
}
