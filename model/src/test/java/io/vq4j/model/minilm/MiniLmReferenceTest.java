package io.vq4j.model.minilm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import io.vq4j.io.OnnxFile;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;

/**
 * MiniLm against independent implementations of the same model file: langchain4j's
 * AllMiniLmL6V2EmbeddingModel (ONNX Runtime + the HF tokenizers library, mean pooling, L2
 * normalisation) for the sentence embeddings, and ONNX Runtime run directly for the per-token
 * hidden states; and the weight mapping against the graph's node names, a route the loader
 * does not use.
 */
class MiniLmReferenceTest {
    /**
     * Per-sentence bounds. Measured on 50 WikiText-2 sentences and 3 truncated paragraphs:
     * max |Δ| 2.0e-7, min cosine 1 − 6e-13 (float rounding: ORT fuses LayerNorm/GELU and sums in
     * other orders). The bounds leave room for other CPUs' rounding, not for a wrong model.
     */
    static final double MAX_ABS = 1e-4;
    static final double MIN_COSINE = 0.99999;

    @Test
    void embeddingsMatchLangchain4jWithOnnxRuntime() {
        MiniLm model = MiniLmFixture.model();
        List<String> texts = new ArrayList<>(MiniLmFixture.sentences(50));
        List<String> longOnes = MiniLmFixture.paragraphs().stream().filter(p -> model.tokenize(p).length == 128)
                .limit(3).toList();
        assertEquals(3, longOnes.size(), "paragraphs long enough to be truncated at 128 tokens");
        texts.addAll(longOnes);
        AllMiniLmL6V2EmbeddingModel reference = new AllMiniLmL6V2EmbeddingModel();
        float[][] mine = model.embed(texts);
        double worstAbs = 0;
        double worstCos = 1;
        for (int i = 0; i < texts.size(); i++) {
            float[] ref = reference.embed(texts.get(i)).content().vector();
            assertEquals(ref.length, mine[i].length);
            double dot = 0;
            double nr = 0;
            double nm = 0;
            double maxAbs = 0;
            for (int j = 0; j < ref.length; j++) {
                dot += (double) ref[j] * mine[i][j];
                nr += (double) ref[j] * ref[j];
                nm += (double) mine[i][j] * mine[i][j];
                maxAbs = Math.max(maxAbs, Math.abs(ref[j] - mine[i][j]));
            }
            double cos = dot / Math.sqrt(nr * nm);
            String what = "sentence " + i + " (" + texts.get(i).substring(0, Math.min(60, texts.get(i).length())) + ")";
            assertTrue(maxAbs < MAX_ABS, what + ": max |diff| " + maxAbs);
            assertTrue(cos > MIN_COSINE, what + ": cosine " + cos);
            worstAbs = Math.max(worstAbs, maxAbs);
            worstCos = Math.min(worstCos, cos);
        }
        System.out.printf("MiniLm vs langchain4j on %d texts: max |diff| %.3g, min cosine 1 - %.3g%n",
                texts.size(), worstAbs, 1 - worstCos);
    }

    @Test
    void hiddenStatesMatchOnnxRuntimeRunDirectly() throws Exception {
        MiniLm model = MiniLmFixture.model();
        byte[] onnx;
        try (ZipFile zip = new ZipFile(MiniLmFixture.jar().toFile());
             InputStream in = zip.getInputStream(zip.getEntry("all-minilm-l6-v2.onnx"))) {
            onnx = in.readAllBytes();
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        double worst = 0;
        try (OrtSession session = env.createSession(onnx)) {
            for (String text : MiniLmFixture.sentences(5)) {
                int[] ids = model.tokenize(text);
                long[][] input = {Arrays.stream(ids).asLongStream().toArray()};
                long[][] mask = {new long[ids.length]};
                Arrays.fill(mask[0], 1);
                try (OnnxTensor a = OnnxTensor.createTensor(env, input);
                     OnnxTensor b = OnnxTensor.createTensor(env, mask);
                     OnnxTensor c = OnnxTensor.createTensor(env, new long[1][ids.length]);
                     OrtSession.Result r = session.run(Map.of("input_ids", a, "attention_mask", b, "token_type_ids", c))) {
                    float[][] ref = ((float[][][]) r.get(0).getValue())[0];
                    float[] mine = model.hiddenStates(ids);
                    for (int t = 0; t < ids.length; t++) {
                        for (int i = 0; i < 384; i++) {
                            worst = Math.max(worst, Math.abs(ref[t][i] - mine[t * 384 + i]));
                        }
                    }
                }
            }
        }
        System.out.printf("MiniLm vs ONNX Runtime hidden states: max |diff| %.3g%n", worst);
        assertTrue(worst < HIDDEN_MAX_ABS, "max |diff| of hidden states " + worst);
    }

    /** Hidden states are O(1) to O(10) before pooling; measured max |Δ| 3.1e-6 on these 5 sentences. */
    static final double HIDDEN_MAX_ABS = 1e-4;

    @Test
    void linearsMapToTheGraphsNamedMatMulsTransposedToOutIn() {
        MiniLm model = MiniLmFixture.model();
        assertEquals(new MiniLmConfig(30522, 384, 6, 12, 1536, 512, 2, 1e-12f), model.config());
        OnnxFile onnx = OnnxFile.read(MiniLmFixture.jar());
        Map<String, String> paths = Map.of("attn.q", "attention/self/query", "attn.k", "attention/self/key",
                "attn.v", "attention/self/value", "attn.out", "attention/output/dense",
                "ffn.in", "intermediate/dense", "ffn.out", "output/dense");
        List<LinearLayer> linears = model.linears();
        assertEquals(36, linears.size());
        int k = 0;
        for (int l = 0; l < 6; l++) {
            for (String name : MiniLm.linearNames(l)) {
                LinearLayer lin = linears.get(k++);
                assertEquals(name, lin.name(), "forward order");
                String suffix = name.substring(name.indexOf('.', 6) + 1);
                String node = "/encoder/layer." + l + "/" + paths.get(suffix) + "/MatMul";
                OnnxFile.Node mm = onnx.nodes().stream().filter(n -> n.name().equals(node)).findFirst().orElseThrow();
                OnnxFile.Tensor stored = onnx.initializer(mm.inputs().get(1));
                assertArrayEquals(new long[] {lin.cols(), lin.rows()}, stored.dims(), name + " is stored [in, out]");
                assertArrayEquals(BertOnnx.transpose(onnx.floats(stored), lin.cols(), lin.rows()), lin.weight(), name);
                assertEquals(suffix.equals("ffn.in") ? 1536 : 384, lin.rows(), name);
                assertEquals(suffix.equals("ffn.out") ? 1536 : 384, lin.cols(), name);
                String bias = "encoder.layer." + l + "." + paths.get(suffix).replace('/', '.') + ".bias";
                assertArrayEquals(onnx.floats(onnx.initializer(bias)), lin.bias(), name + " bias");
            }
        }
    }
}
