package io.vq4j.pack;

import io.vq4j.io.DType;
import io.vq4j.io.SafeTensorsFile;
import io.vq4j.io.SafeTensorsWriter;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.BitPacking;
import io.vq4j.kernels.packed.BlockScaleValues;
import io.vq4j.kernels.packed.CodebookFormat;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.kernels.packed.Segment;
import io.vq4j.kernels.packed.Stage;
import io.vq4j.kernels.packed.StageValues;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PackedLayersTest {
    private static final SplittableRandom R = new SplittableRandom(7);

    private static int[] ints(int n, int bound) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = R.nextInt(bound);
        }
        return a;
    }

    private static float[] halfs(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = Codebooks.f16((float) R.nextGaussian());
        }
        return a;
    }

    private static StageValues stage(int groups, int k, int d, int n, CodebookFormat f) {
        float[] cb = new float[groups * k * d];
        for (int i = 0; i < cb.length; i++) {
            cb[i] = (float) R.nextGaussian();
        }
        float[] scales = Codebooks.round(cb, groups, k, d, f);
        return new StageValues(k, f, cb, scales, ints(n, k));
    }

    /** Every encoding the format has, on a 12 x 20 matrix. */
    static List<PackedMatrix> layers() {
        int rows = 12;
        int cols = 20;
        int[] codes = ints(rows * cols, 8);
        float[] scales = halfs(rows * 3);
        int[] zeros = ints(rows * 3, 8);
        // IN axis, d = 4, groups of 6 rows x 10 columns -> 4 groups, 12 * 5 = 60 vectors, k = 5 (3-bit indices)
        List<StageValues> in = List.of(stage(4, 5, 4, 60, CodebookFormat.F16));
        // OUT axis, d = 3 over 12 rows, two stages (k = 4096: 12 bits; k = 3: 2 bits), int8 residual codebook
        List<StageValues> out = List.of(stage(1, 4096, 3, 80, CodebookFormat.F16),
                stage(1, 3, 3, 80, CodebookFormat.INT8));
        List<StageValues> blockScaled = List.of(stage(1, 16, 2, 120, CodebookFormat.INT8));
        BlockScaleValues blockScales = new BlockScaleValues(8, 4, -3f, 0.25f, ints(rows * 3, 16));
        int[] perm = new int[cols];
        for (int i = 0; i < cols; i++) {
            perm[i] = (i * 7) % cols; // 7 is coprime to 20: a permutation
        }
        // outliers: columns [0, 4) of the permuted matrix with their own OUT codebook
        List<StageValues> outlier = List.of(stage(1, 7, 2, 24, CodebookFormat.F16));
        List<StageValues> rest = List.of(stage(1, 32, 2, 96, CodebookFormat.F16),
                stage(1, 9, 2, 96, CodebookFormat.F16), stage(1, 2, 2, 96, CodebookFormat.F16));
        return List.of(
                PackedMatrix.builder(rows, cols).method("rtn").scalar("", 0, cols, 3, 8, false, codes, scales, zeros)
                        .build(),
                PackedMatrix.builder(rows, cols).method("kmeans").vector("", 0, cols, Axis.IN, 4, 6, 10, in, null)
                        .build(),
                PackedMatrix.builder(rows, cols).method("vptq").vector("", 0, cols, Axis.OUT, 3, 12, 20, out, null)
                        .build(),
                PackedMatrix.builder(rows, cols).method("gptvq")
                        .vector("", 0, cols, Axis.IN, 2, 12, 20, blockScaled, blockScales).build(),
                PackedMatrix.builder(rows, cols).method("vptq")
                        .vector("outlier_", 0, 4, Axis.OUT, 2, 12, 4, outlier, null)
                        .vector("", 4, cols, Axis.OUT, 2, 12, 16, rest, null)
                        .permutation(perm).norm(halfs(cols), halfs(cols)).build());
    }

    static PackedLayers.TensorSource mapSource(Map<String, PackedLayers.Part> parts) {
        return new PackedLayers.TensorSource() {
            @Override
            public boolean contains(String name) {
                return parts.containsKey(name);
            }

            @Override
            public PackedLayers.Tensor get(String name) {
                PackedLayers.Part p = parts.get(name);
                return p == null ? null : new PackedLayers.Tensor(p.dtype(), p.shape(), p.bytes());
            }
        };
    }

    static Map<String, PackedLayers.Part> partMap(String name, PackedMatrix q) {
        Map<String, PackedLayers.Part> m = new HashMap<>();
        for (PackedLayers.Part p : PackedLayers.parts(name, q)) {
            m.put(p.name(), p);
        }
        return m;
    }

    static void assertSameLayer(PackedMatrix a, PackedMatrix b) {
        assertEquals(a.method(), b.method());
        assertArrayEquals(a.perm(), b.perm());
        assertArrayEquals(a.normScale(), b.normScale());
        assertArrayEquals(a.normBias(), b.normBias());
        assertEquals(a.segments().size(), b.segments().size());
        for (int s = 0; s < a.segments().size(); s++) {
            var x = a.segments().get(s);
            var y = b.segments().get(s);
            if (x instanceof Segment.Scalar sx && y instanceof Segment.Scalar sy) {
                assertArrayEquals(a.codes(sx), b.codes(sy));
                assertArrayEquals(a.scales(sx), b.scales(sy));
                assertArrayEquals(a.zeros(sx), b.zeros(sy));
            } else if (x instanceof Segment.Vector vx && y instanceof Segment.Vector vy) {
                List<Stage> ax = a.stages(vx);
                List<Stage> by = b.stages(vy);
                for (int i = 0; i < ax.size(); i++) {
                    assertArrayEquals(a.indices(vx, ax.get(i)), b.indices(vy, by.get(i)), "every index back");
                    assertArrayEquals(a.codebooks(vx, ax.get(i)), b.codebooks(vy, by.get(i)));
                }
                if (vx.blockScales() != null) {
                    assertArrayEquals(a.blockScaleCodes(vx), b.blockScaleCodes(vy));
                }
            } else {
                throw new AssertionError("encodings differ: " + x + " vs " + y);
            }
        }
        assertArrayEquals(a.dequantize(), b.dequantize(), "same weights, bit for bit");
    }

    @Test
    void everyEncodingRoundTripsExactly() {
        int i = 0;
        for (PackedMatrix q : layers()) {
            String name = "model.layers." + i++ + ".mlp.up_proj";
            PackedMatrix back = PackedLayers.read(name, PackedLayers.layoutJson(q), mapSource(partMap(name, q)));
            assertSameLayer(q, back);
        }
    }

    @Test
    void roundTripsThroughARealFile(@TempDir Path dir) throws Exception {
        SafeTensorsWriter w = new SafeTensorsWriter();
        List<PackedMatrix> ls = layers();
        for (int i = 0; i < ls.size(); i++) {
            PackedLayers.write("l" + i, ls.get(i), w);
        }
        w.write(dir.resolve("x.safetensors"));
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve("x.safetensors"))) {
            for (int i = 0; i < ls.size(); i++) {
                String layout = f.metadata().get(PackedLayers.META_PREFIX + "l" + i);
                assertSameLayer(ls.get(i), PackedLayers.read("l" + i, layout, PackedLayers.TensorSource.of(f)));
            }
        }
    }

    @Test
    void indicesCostExactlyTheirBits() {
        PackedMatrix vptq = layers().get(2);
        Map<String, PackedLayers.Part> m = partMap("x", vptq);
        // 80 indices of 12 bits = 960 bits = 120 bytes; 80 of 2 bits = 20 bytes
        assertEquals(120, m.get("x.indices").bytes().length);
        assertEquals(20, m.get("x.res_indices").bytes().length);
        assertEquals(DType.I8, m.get("x.res_codebook").dtype());
        // nominal: 12/3 + 2/3 bits per weight
        assertEquals(12.0 / 3 + 2.0 / 3, PackedLayers.nominalBitsPerWeight(vptq), 1e-12);
        assertTrue(m.containsKey("x.res_codebook_scale"));
    }

    @Test
    void dequantizeFollowsTheDocumentedLayout() {
        // 2 x 4 matrix, IN axis d = 2, one group, k = 2: rows [c0 c1 / c1 c0]
        float[] cb = {1, 2, -3, 4};
        List<StageValues> st = List.of(new StageValues(2, CodebookFormat.F16, cb, null, new int[]{0, 1, 1, 0}));
        PackedMatrix q = PackedMatrix.builder(2, 4).method("kmeans").vector("", 0, 4, Axis.IN, 2, 2, 4, st, null)
                .build();
        assertArrayEquals(new float[]{1, 2, -3, 4, -3, 4, 1, 2}, q.dequantize());
        // the same indices along OUT: vector i covers rows 0..1 of column i
        PackedMatrix o = PackedMatrix.builder(2, 4).method("vptq").vector("", 0, 4, Axis.OUT, 2, 2, 4, st, null)
                .build();
        assertArrayEquals(new float[]{1, -3, -3, 1, 2, 4, 4, 2}, o.dequantize());
        // norm then perm: W'' * scale + bias, then column c goes to perm[c]
        PackedMatrix pn = PackedMatrix.builder(2, 4).method("vptq").vector("", 0, 4, Axis.OUT, 2, 2, 4, st, null)
                .permutation(new int[]{3, 2, 1, 0}).norm(new float[]{2, 2, 2, 2}, new float[]{0, 0, 0, 1}).build();
        assertArrayEquals(new float[]{3, -6, -6, 2, 5, 8, 8, 4}, pn.dequantize());
    }

    @Test
    void badTensorsAreNamed() {
        PackedMatrix q = layers().get(1);
        Map<String, PackedLayers.Part> m = partMap("x", q);
        String layout = PackedLayers.layoutJson(q);
        Map<String, PackedLayers.Part> missing = new HashMap<>(m);
        missing.remove("x.codebook");
        var e = assertThrows(IllegalArgumentException.class, () -> PackedLayers.read("x", layout, mapSource(missing)));
        assertEquals("tensor 'x.codebook' is missing", e.getMessage());
        Map<String, PackedLayers.Part> shortIdx = new HashMap<>(m);
        PackedLayers.Part p = m.get("x.indices");
        shortIdx.put("x.indices", new PackedLayers.Part(p.name(), p.dtype(), new long[]{p.bytes().length - 1},
                java.util.Arrays.copyOf(p.bytes(), p.bytes().length - 1)));
        e = assertThrows(IllegalArgumentException.class, () -> PackedLayers.read("x", layout, mapSource(shortIdx)));
        assertTrue(e.getMessage().startsWith("tensor 'x.indices' is U8 with 22 bytes; 60 values of 3 bits need U8 x 23"),
                e.getMessage());
        // an index past k (5 centroids, 3 bits can say 7), its checksum not compared (it would fail first)
        Segment.Vector v = (Segment.Vector) q.segments().get(0);
        int[] idx = q.indices(v, q.stages(v).get(0));
        idx[10] = 7;
        Map<String, PackedLayers.Part> bad = new HashMap<>(m);
        bad.put("x.indices", new PackedLayers.Part("x.indices", DType.U8, p.shape(), BitPacking.pack(idx, 3)));
        e = assertThrows(IllegalArgumentException.class, () -> PackedLayers.read("x", layout, mapSource(bad), false));
        assertEquals("tensor 'x.indices' holds index 7 of a 5-centroid codebook", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PackedLayers.read("x", "{", mapSource(m)));
        assertTrue(e.getMessage().startsWith("layout of 'x' is not JSON"), e.getMessage());
    }
}
