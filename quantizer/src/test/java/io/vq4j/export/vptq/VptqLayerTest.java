package io.vq4j.export.vptq;

import io.vq4j.core.InputException;
import io.vq4j.io.SafeTensorsDirectory;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.PackedMatrixBuilder;
import io.vq4j.kernels.packed.StageValues;
import io.vq4j.pack.Codebooks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Export → decode round trips of packed layers with every VPTQ feature vq4j has (residual stage,
 * outliers, perm absorbed or carried, norm, several codebook groups): the tests' own decoder and
 * the import give exactly vq4j's own dequantized weights (codebooks and norm are fp16 values
 * already, so nothing is rounded). Layouts the format cannot express are refused in one line, and
 * a malformed checkpoint is an error that names the file and tensor.
 */
class VptqLayerTest {
    private static final String NAME = "model.layers.0.mlp.up_proj";

    @Test
    void residualNormAndAbsorbedPermRoundTrip(@TempDir Path dir) throws IOException {
        roundTrip(dir, layer(24, 40, 4, 0, 32, 16, true, true, 1, 1), 24, 40, false);
    }

    @Test
    void outliersCarryThePermutation(@TempDir Path dir) throws IOException {
        roundTrip(dir, layer(24, 40, 4, 3, 16, 0, true, true, 1, 2), 24, 40, true);
    }

    @Test
    void severalCodebookGroupsWithoutPermOrNorm(@TempDir Path dir) throws IOException {
        roundTrip(dir, layer(16, 48, 2, 0, 64, 8, false, false, 4, 3), 16, 48, false);
    }

    @Test
    void exportIsDeterministic() {
        PackedMatrix m = layer(24, 40, 4, 3, 16, 0, true, true, 1, 2);
        VptqLayer.Encoded a = VptqLayer.encode(NAME, m);
        VptqLayer.Encoded b = VptqLayer.encode(NAME, m);
        assertEquals(a.config(), b.config());
        for (int i = 0; i < a.tensors().size(); i++) {
            assertArrayEquals(a.tensors().get(i).bytes(), b.tensors().get(i).bytes());
            assertArrayEquals(a.tensors().get(i).floats(), b.tensors().get(i).floats());
        }
    }

    @Test
    void refusesWhatTheFormatCannotExpress() {
        assertRefused(layer(24, 40, 4, 3, 16, 8, false, false, 1, 4), "residual stages on its outlier columns");
        assertRefused(layer(24, 40, 4, 0, 24, 0, false, false, 1, 5), "power of two");
        assertRefused(layer(24, 40, 4, 0, 16, 64, false, false, 1, 6), "wider than the main");
        PackedMatrix threeStages = PackedMatrix.builder(8, 32).vector("", 0, 32, Axis.OUT, 4, 8, 32,
                List.of(stage(new Random(1), 16, 4, 64), stage(new Random(2), 4, 4, 64), stage(new Random(3), 4, 4, 64)),
                null).build();
        assertRefused(threeStages, "2 residual stages");
        Random r = new Random(7);
        float[] cb = new float[16 * 4];
        int[] idx = new int[64];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = r.nextInt(16);
        }
        float[] scale = Codebooks.round(cb, 1, 16, 4, CodebookFormat.INT8);
        PackedMatrix int8 = PackedMatrix.builder(8, 32).vector("", 0, 32, Axis.OUT, 4, 8, 32,
                List.of(new StageValues(16, CodebookFormat.INT8, cb, scale, idx)), null).build();
        assertRefused(int8, "INT8 codebooks");
        PackedMatrix in = PackedMatrix.builder(8, 32).vector("", 0, 32, Axis.IN, 4, 8, 32,
                List.of(stage(new Random(4), 16, 4, 64)), null).build();
        assertRefused(in, "not vector-quantized along the output dimension");
    }

    @Test
    void malformedCheckpointsNameFileAndTensor(@TempDir Path dir) throws IOException {
        PackedMatrix m = layer(24, 40, 4, 3, 16, 0, true, true, 1, 8);
        assertBad(dir.resolve("1"), m, t -> t.name().endsWith(".outlier_centroids.weight") ? null : t,
                "VPTQ tensor '" + NAME + ".outlier_centroids.weight' is missing");
        assertBad(dir.resolve("2"), m, t -> t.name().endsWith(".indices")
                ? new VptqLayer.Tensor(t.name(), t.dtype(), new long[] {1, 5, t.shape()[2]}, null,
                Arrays.copyOf(t.bytes(), (int) (5 * 4 * t.shape()[2]))) : t,
                "tensor '" + NAME + ".indices' has 5 row-vectors, which do not divide the 24 rows");
        assertBad(dir.resolve("3"), m, t -> t.name().endsWith(".perm")
                ? new VptqLayer.Tensor(t.name(), t.dtype(), t.shape(), null, new byte[t.bytes().length]) : t,
                "tensor '" + NAME + ".perm' is not a permutation");
        assertBad(dir.resolve("4"), m, t -> {
            if (!t.name().endsWith(".outlier_indices")) {
                return t;
            }
            byte[] b = t.bytes().clone();
            b[0] = 99; // centroid 99 of 16
            return new VptqLayer.Tensor(t.name(), t.dtype(), t.shape(), null, b);
        }, "outlier_indices' element 0 = 99 is outside the 16 outlier centroids");
    }

    private static void assertBad(Path dir, PackedMatrix m, UnaryOperator<VptqLayer.Tensor> edit, String message)
            throws IOException {
        VptqLayer.Encoded e = VptqLayer.encode(NAME, m);
        List<VptqLayer.Tensor> ts = new ArrayList<>();
        for (VptqLayer.Tensor t : e.tensors()) {
            VptqLayer.Tensor u = edit.apply(t);
            if (u != null) {
                ts.add(u);
            }
        }
        Files.createDirectories(dir);
        SafeTensorsWriter w = new SafeTensorsWriter();
        new VptqLayer.Encoded(NAME, ts, e.config()).addTo(w);
        w.write(dir.resolve(SafeTensorsDirectory.SINGLE));
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(dir)) {
            InputException x = assertThrows(InputException.class,
                    () -> new VptqLayerReader().read(st, NAME, m.rows(), m.cols()));
            assertTrue(x.getMessage().contains(message), x.getMessage());
            assertTrue(!x.getMessage().contains("\n"), x.getMessage());
        }
    }

    private static void assertRefused(PackedMatrix m, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VptqLayer.encode(NAME, m));
        assertTrue(e.getMessage().startsWith("layer '" + NAME + "' ") && e.getMessage().contains(message),
                e.getMessage());
    }

    private static void roundTrip(Path dir, PackedMatrix m, int rows, int cols, boolean permCarried)
            throws IOException {
        VptqLayer.Encoded e = VptqLayer.encode(NAME, m);
        assertEquals(permCarried, e.config().path("enable_perm").asBoolean());
        assertEquals(permCarried, e.tensors().stream().anyMatch(t -> t.name().endsWith(".perm")));
        SafeTensorsWriter w = new SafeTensorsWriter();
        e.addTo(w);
        w.write(dir.resolve(SafeTensorsDirectory.SINGLE));
        float[] want = m.dequantize();
        try (SafeTensorsDirectory st = SafeTensorsDirectory.open(dir)) {
            assertArrayEquals(want, VptqTestDecoder.decode(st.fileOf(NAME + ".indices"), NAME, rows, cols),
                    "the tests' decoder");
            assertArrayEquals(want, new VptqLayerReader().read(st, NAME, rows, cols).dequantize(), "the import");
        }
    }

    /** A random VPTQ-like layer: outliers columns first (own codebook), main in groups, optional residual, perm, norm. */
    static PackedMatrix layer(int rows, int cols, int d, int outliers, int k, int kRes, boolean perm, boolean norm,
                              int groups, long seed) {
        Random r = new Random(seed);
        PackedMatrixBuilder b = PackedMatrix.builder(rows, cols).method("vptq");
        if (outliers > 0) {
            List<StageValues> os = new ArrayList<>();
            os.add(stage(r, 16, d, rows / d * outliers));
            if (kRes > 0) {
                os.add(stage(r, kRes, d, rows / d * outliers));
            }
            b.vector("outlier_", 0, outliers, Axis.OUT, d, rows, outliers, os, null);
        }
        int width = cols - outliers;
        List<StageValues> st = new ArrayList<>();
        st.add(stage(r, k, d, rows / d * width, groups));
        if (kRes > 0) {
            st.add(stage(r, kRes, d, rows / d * width, groups));
        }
        b.vector("", outliers, cols, Axis.OUT, d, rows, width / groups, st, null);
        if (perm) {
            int[] p = new int[cols];
            for (int i = 0; i < cols; i++) {
                p[i] = i;
            }
            for (int i = cols - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = p[i];
                p[i] = p[j];
                p[j] = t;
            }
            b.permutation(p);
        }
        if (norm) {
            float[] s = new float[cols];
            float[] bi = new float[cols];
            for (int c = 0; c < cols; c++) {
                s[c] = Codebooks.f16(0.5f + r.nextFloat());
                bi[c] = Codebooks.f16(r.nextFloat() - 0.5f);
            }
            b.norm(s, bi);
        }
        return b.build();
    }

    private static StageValues stage(Random r, int k, int d, int vectors) {
        return stage(r, k, d, vectors, 1);
    }

    private static StageValues stage(Random r, int k, int d, int vectors, int groups) {
        float[] cb = new float[groups * k * d];
        for (int i = 0; i < cb.length; i++) {
            cb[i] = Codebooks.f16((float) r.nextGaussian());
        }
        int[] idx = new int[vectors];
        for (int i = 0; i < vectors; i++) {
            idx[i] = r.nextInt(k);
        }
        return new StageValues(k, CodebookFormat.F16, cb, null, idx);
    }
}
