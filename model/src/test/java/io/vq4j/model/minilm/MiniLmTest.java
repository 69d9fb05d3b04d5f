package io.vq4j.model.minilm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.testing.InputErrors;
import io.vq4j.testing.ProtoWriter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The encoder's API on the real model: batching, replaced weights, captured inputs, loading. */
class MiniLmTest {
    @TempDir
    Path tmp;

    @Test
    void aSentenceGetsTheSameBitsAloneOrInABatch() {
        MiniLm m = MiniLmFixture.model();
        List<String> texts = MiniLmFixture.sentences(12);
        float[][] batch = m.embed(texts);
        for (int i = 0; i < texts.size(); i += 5) {
            assertArrayEquals(m.embed(texts.get(i)), batch[i], "sentence " + i);
        }
        double norm = 0;
        for (float v : batch[0]) {
            norm += v * v;
        }
        assertEquals(1.0, norm, 1e-6, "unit length");
    }

    @Test
    void withWeightsReplacesOnlyTheNamedLayersAndLeavesTheModelAlone() {
        MiniLm m = MiniLmFixture.model();
        String text = MiniLmFixture.sentences(1).getFirst();
        float[] before = m.embed(text);
        LinearLayer ffnOut = m.linear("layer.5.ffn.out");
        MiniLm same = m.withWeights(Map.of("layer.5.ffn.out", ffnOut.weight().clone()));
        assertArrayEquals(before, same.embed(text), "the same weights give the same bits");

        float[] zeros = new float[ffnOut.rows() * ffnOut.cols()];
        MiniLm cut = m.withWeights(Map.of("layer.5.ffn.out", zeros));
        assertFalse(java.util.Arrays.equals(before, cut.embed(text)), "a zeroed layer changes the embedding");
        assertSame(zeros, cut.linear("layer.5.ffn.out").weight());
        assertSame(ffnOut.bias(), cut.linear("layer.5.ffn.out").bias());
        assertSame(m.linear("layer.0.attn.q").weight(), cut.linear("layer.0.attn.q").weight(), "others are shared");
        assertNotSame(m, cut);
        assertArrayEquals(before, m.embed(text), "the original model is unchanged");

        assertThrows(IllegalArgumentException.class, () -> m.withWeights(Map.of("layer.9.ffn.in", zeros)));
        assertThrows(IllegalArgumentException.class, () -> m.withWeights(Map.of("layer.0.ffn.in", new float[10])));
    }

    @Test
    void theSinkSeesEveryLinearsInputInForwardOrder() {
        MiniLm m = MiniLmFixture.model();
        List<String> texts = MiniLmFixture.sentences(3);
        int tokens = texts.stream().mapToInt(t -> m.tokenize(t).length).sum();
        List<String> seen = new ArrayList<>();
        float[][] qkv = new float[3][];
        float[] minGelu = {Float.MAX_VALUE};
        float[][] withSink = m.embed(texts, (layer, x, rows, cols) -> {
            seen.add(layer);
            assertEquals(tokens, rows, layer);
            assertEquals(m.linear(layer).cols(), cols, layer);
            assertEquals(rows * cols, x.length, layer);
            if (layer.startsWith("layer.2.attn.") && !layer.endsWith("out")) {
                qkv["qkv".indexOf(layer.charAt(layer.length() - 1))] = x;
            }
            if (layer.endsWith("ffn.out")) {
                for (float v : x) {
                    minGelu[0] = Math.min(minGelu[0], v);
                }
            }
        });
        assertEquals(m.linears().stream().map(LinearLayer::name).toList(), seen);
        assertSame(qkv[0], qkv[1], "Q, K and V share one input");
        assertSame(qkv[0], qkv[2]);
        assertTrue(minGelu[0] >= -0.17 && minGelu[0] < 0, "ffn.out sees GELU outputs (min of GELU is -0.17): " + minGelu[0]);
        assertArrayEquals(m.embed(texts)[1], withSink[1], "capturing changes nothing");
    }

    @Test
    void loadsFromADirectoryOrAnOnnxFileWithItsTokenizerBeside() throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("model"));
        try (ZipFile zip = new ZipFile(MiniLmFixture.jar().toFile())) {
            for (String entry : List.of("all-minilm-l6-v2.onnx", "all-minilm-l6-v2-tokenizer.json")) {
                try (InputStream in = zip.getInputStream(zip.getEntry(entry))) {
                    Files.copy(in, dir.resolve(entry));
                }
            }
        }
        String text = MiniLmFixture.sentences(1).getFirst();
        float[] fromJar = MiniLmFixture.model().embed(text);
        assertArrayEquals(fromJar, MiniLm.load(dir).embed(text));
        assertArrayEquals(fromJar, MiniLm.load(dir.resolve("all-minilm-l6-v2.onnx")).embed(text));

        Files.delete(dir.resolve("all-minilm-l6-v2.onnx"));
        InputErrors.fails(dir, "expected exactly one *.onnx file here, found 0", () -> MiniLm.load(dir));
    }

    @Test
    void anOnnxModelThatIsNotBertIsAnInputError() throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("other"));
        Files.write(dir.resolve("m.onnx"),
                new ProtoWriter().varint(1, 8).message(7, new ProtoWriter().string(2, "empty")).toByteArray());
        try (InputStream in = getClass().getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
            Files.copy(in, dir.resolve("tokenizer.json"));
        }
        InputErrors.fails(dir.resolve("m.onnx"), "no initializer embeddings.word_embeddings.weight: not a BERT encoder export",
                () -> MiniLm.load(dir));
    }
}
