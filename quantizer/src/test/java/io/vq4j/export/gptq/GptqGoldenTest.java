package io.vq4j.export.gptq;

import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.pack.PackedLayers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Five stories260K layers packed by vq4j (resources gptq-golden/, how they were made in its
 * README.txt), against files made by the reference code outside the repository: AutoGPTQ's
 * QuantLinear.pack (checkpoint format v1) and GPTQModel's conversion of its qzeros to v2, and
 * AutoGPTQ's own dequant (its torch forward on the identity). vq4j's export of each layer is
 * byte for byte the reference's qweight, qzeros, scales and g_idx (v1 and v2), the reference's
 * dequant is exactly vq4j's packed weights, and the import and the tests' own decoder read the
 * reference's files back to those weights. Exact, not within a tolerance: the scales are fp16
 * values on both sides and every product is an fp16 value times an integer below 2^9.
 */
class GptqGoldenTest {
    @Test
    void fourBitActOrderGroups32() throws Exception {
        check("a", "model.layers.0.self_attn.q_proj", 64, 64, 4, 32);
    }

    @Test
    void threeBitGroups32Asymmetric() throws Exception {
        check("b", "model.layers.1.self_attn.o_proj", 64, 64, 3, 32);
    }

    @Test
    void threeBitActOrderWholeRowSymmetric() throws Exception {
        check("c", "model.layers.0.self_attn.k_proj", 32, 64, 3, -1);
    }

    @Test
    void eightBitGroups32() throws Exception {
        check("d", "model.layers.2.self_attn.v_proj", 32, 64, 8, 32);
    }

    @Test
    void twoBitActOrderGroups32() throws Exception {
        check("e", "model.layers.3.self_attn.q_proj", 64, 64, 2, 32);
    }

    @TempDir
    Path tmp;

    private void check(String dir, String name, int rows, int cols, int bits, int group)
            throws IOException, URISyntaxException {
        Path d = Path.of(GptqGoldenTest.class.getResource("/gptq-golden/" + dir + "/golden.f32").toURI()).getParent();
        byte[] raw = Files.readAllBytes(d.resolve("golden.f32"));
        assertEquals(4L * rows * cols, raw.length);
        float[] golden = new float[rows * cols];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(golden);

        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(d.resolve("packed"))) {
            String layout = st.files().getFirst().metadata().get(PackedLayers.META_PREFIX + name);
            PackedMatrix m = PackedLayers.read(name, layout, PackedLayers.TensorSource.of(st), true);
            assertArrayEquals(golden, m.dequantize(), name + ": AutoGPTQ's dequant vs vq4j's packed weights");
        }
        for (GptqExport.Format f : GptqExport.Format.values()) {
            String ref = f == GptqExport.Format.V1 ? "reference" : "reference-v2";
            Path out = tmp.resolve(dir + "-" + f.key());
            GptqExport.write(d.resolve("packed"), out, f);
            try (SafeTensorsFile mine = SafeTensorsFile.open(out.resolve(SafeTensorsDirectory.SINGLE));
                 SafeTensorsFile theirs = SafeTensorsFile.open(d.resolve(ref).resolve(SafeTensorsDirectory.SINGLE))) {
                for (String t : new String[] {".qweight", ".qzeros", ".scales", ".g_idx"}) {
                    String n = name + t;
                    String what = name + t + " (" + f.key() + ")";
                    assertEquals(theirs.info(n).dtype(), mine.info(n).dtype(), what);
                    assertArrayEquals(theirs.info(n).shape(), mine.info(n).shape(), what);
                    assertArrayEquals(theirs.data(n).toArray(ValueLayout.JAVA_BYTE),
                            mine.data(n).toArray(ValueLayout.JAVA_BYTE), what + ": vq4j's export vs the reference's");
                }
                assertArrayEquals(golden, GptqTestDecoder.decode(theirs, name, bits, group, f == GptqExport.Format.V1),
                        name + " (" + ref + "): the tests' decoder vs AutoGPTQ's dequant");
            }
            try (SafeTensorsDirectory st = SafeTensorsDirectory.open(d.resolve(ref))) {
                assertArrayEquals(golden, new GptqLayerReader().read(st, name, rows, cols).dequantize(),
                        name + " (" + ref + "): the import vs AutoGPTQ's dequant");
            }
        }
    }
}
