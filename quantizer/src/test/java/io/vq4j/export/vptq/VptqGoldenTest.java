package io.vq4j.export.vptq;

import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.kernels.packed.PackedMatrix;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * vq4j's VPTQ exports of two stories260K layers (resources vptq-golden/, how they were made in
 * its README.txt) decoded by microsoft/VPTQ's own torch dequant outside the repository: the
 * import ({@link VptqLayerReader}, then vq4j's packed decode) and the tests' own decoder give the
 * same float32 weights. Both sides do the same float operations (centroid + residual, then
 * · scale + bias), so the comparison is exact.
 */
class VptqGoldenTest {
    @Test
    void residualNormAbsorbedPermMatchesVptqsDequant() throws Exception {
        check("a", "model.layers.0.self_attn.k_proj", 32, 64);
    }

    @Test
    void outliersCarriedPermNormMatchVptqsDequant() throws Exception {
        check("b", "model.layers.1.mlp.down_proj", 64, 172);
    }

    private static void check(String dir, String name, int rows, int cols) throws IOException, URISyntaxException {
        Path d = Path.of(VptqGoldenTest.class.getResource("/vptq-golden/" + dir + "/golden.f32").toURI()).getParent();
        byte[] raw = Files.readAllBytes(d.resolve("golden.f32"));
        assertEquals(4L * rows * cols, raw.length);
        float[] golden = new float[rows * cols];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(golden);
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(d)) {
            PackedMatrix m = new VptqLayerReader().read(st, name, rows, cols);
            assertArrayEquals(golden, m.dequantize(), name + ": import vs VPTQ's dequant");
            assertArrayEquals(golden, VptqTestDecoder.decode(st.fileOf(name + ".indices"), name, rows, cols),
                    name + ": the tests' decoder vs VPTQ's dequant");
        }
    }
}
