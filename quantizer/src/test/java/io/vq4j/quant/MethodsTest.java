package io.vq4j.quant;

import io.vq4j.core.InputException;
import io.vq4j.kernels.cpu.CpuBackend;
import io.vq4j.kernels.packed.Axis;
import io.vq4j.kernels.packed.PackedMatrix;
import io.vq4j.quant.method.LayerProblem;
import io.vq4j.quant.method.Method;
import io.vq4j.quant.method.MethodOption;
import io.vq4j.quant.method.QuantSpec;
import io.vq4j.quant.rtn.RtnOptions;
import io.vq4j.quant.vptq.Vptq;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The registry and the option tables: what the CLI, the sweep and the written spec are generated from. */
class MethodsTest {
    @Test
    void theRegistryListsEveryMethodWithItsTraits() {
        assertEquals(List.of("rtn", "gptq", "kmeans", "gptvq", "vptq"), Methods.names());
        assertEquals("rtn, gptq, kmeans, gptvq or vptq", Methods.listed(m -> true));
        assertEquals("kmeans or gptvq", Methods.listed(m -> m.vectorAxis() == Axis.IN));
        assertSame(Vptq.METHOD, Methods.forName("vptq"));
        assertEquals(Axis.OUT, Methods.forName("vptq").vectorAxis());
        assertNull(Methods.forName("gptq").vectorAxis());
        assertEquals(List.of(false, true, false, true, true),
                Methods.all().stream().map(Method::needsHessian).toList());
        assertEquals(List.of(false, false, true, true, true),
                Methods.all().stream().map(Method::sharesCodebooks).toList());
        assertEquals("unknown method 'awq' (known: rtn, gptq, kmeans, gptvq, vptq)",
                assertThrows(IllegalArgumentException.class, () -> Methods.forName("awq")).getMessage());
    }

    @Test
    void aMethodThatDeclaresItUsesNoSeedIsNeverGivenOne() {
        // rtn and gptq declare it (a sweep over seeds runs them once); every vector method seeds its k-means
        assertEquals(List.of(false, false, true, true, true), Methods.all().stream().map(Method::usesSeed).toList());
        List<Long> seen = new ArrayList<>();
        Method.Algorithm<RtnOptions> probe = new Method.Algorithm<>() {
            @Override
            public void validate(RtnOptions options, QuantSpec spec, int rows, int cols) {
            }

            @Override
            public PackedMatrix quantize(LayerProblem p, RtnOptions options) {
                seen.add(p.seed());
                return PackedMatrix.dense(p.weight(), p.rows(), p.cols(), false);
            }
        };
        int rows = 8;
        int cols = 16;
        float[] w = new float[rows * cols];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        QuantSpec rtn = Specs.of("rtn", "--bits", 3, "--group-size", 8);
        CpuBackend cpu = new CpuBackend();
        Method.scalarWithoutSeed("probe", RtnOptions.class, false, RtnOptions.TABLE, probe)
                .quantize(new LayerProblem("x", w, rows, cols, null, rtn, cpu, 12345));
        Method.scalar("probe", RtnOptions.class, false, RtnOptions.TABLE, probe)
                .quantize(new LayerProblem("x", w, rows, cols, null, rtn, cpu, 12345));
        assertEquals(List.of(0L, 12345L), seen);
        // and so rtn and gptq give the same bytes under any seed
        double[] h = new double[cols * cols];
        for (int i = 0; i < cols; i++) {
            for (int j = 0; j < cols; j++) {
                h[i * cols + j] = (i == j ? cols : 0) + 1.0 / (1 + Math.abs(i - j));
            }
        }
        QuantSpec gptq = Specs.of("gptq", "--bits", 3, "--group-size", 8, "--block-size", 8);
        for (QuantSpec spec : List.of(rtn, gptq)) {
            Method<?> m = Methods.forName(spec.method());
            PackedMatrix a = m.quantize(new LayerProblem("x", w, rows, cols, m.needsHessian() ? h : null, spec, cpu, 1));
            PackedMatrix b = m.quantize(new LayerProblem("x", w, rows, cols, m.needsHessian() ? h : null, spec, cpu,
                    LayerProblem.layerSeed(987654321L, "x")));
            assertArrayEquals(a.bytes(), b.bytes(), spec.method());
            assertArrayEquals(a.floats(), b.floats(), spec.method());
            assertArrayEquals(a.ints(), b.ints(), spec.method());
        }
    }

    @Test
    void theOptionsAreTheCliOptionsInHelpOrder() {
        assertEquals(List.of("--bits", "--group-size", "--symmetric", "--act-order", "--block-size", "--dim",
                "--centroids", "--group-rows", "--iters", "--tol", "--init", "--int8-codebooks", "--no-codebook-update",
                "--block-norm", "--residual-centroids", "--outlier-percent", "--outlier-centroids", "--perm", "--norm",
                "--config", "--share-codebooks", "--percdamp"),
                QuantOptions.all().stream().map(MethodOption::name).toList());
        assertEquals(List.of("--bits", "--group-size", "--symmetric", "--percdamp"), QuantOptions.allowed("rtn"));
        assertEquals(List.of("--bits", "--group-size", "--symmetric", "--act-order", "--block-size", "--percdamp"),
                QuantOptions.allowed("gptq"));
        assertEquals(List.of("--group-size", "--dim", "--centroids", "--group-rows", "--iters", "--tol", "--init",
                "--int8-codebooks", "--share-codebooks", "--percdamp"), QuantOptions.allowed("kmeans"));
        assertEquals(List.of("--group-size", "--block-size", "--dim", "--centroids", "--group-rows", "--iters",
                "--tol", "--init", "--int8-codebooks", "--no-codebook-update", "--block-norm", "--share-codebooks",
                "--percdamp"),
                QuantOptions.allowed("gptvq"));
        assertEquals(List.of("--block-size", "--dim", "--centroids", "--iters", "--tol", "--int8-codebooks",
                "--residual-centroids", "--outlier-percent", "--outlier-centroids", "--perm", "--norm", "--config",
                "--share-codebooks", "--percdamp"), QuantOptions.allowed("vptq"));
        // help texts name the methods that take the option, from the registry
        assertEquals("rtn/gptq: bits per weight, 2..8 (default 4)", QuantOptions.help(QuantOptions.option("--bits")));
        assertEquals("rtn/gptq: columns per scale; kmeans/gptvq: columns per codebook group (0 = whole row)",
                QuantOptions.help(QuantOptions.option("--group-size")));
        assertEquals("gptq/gptvq/vptq: lazy update block (default 128)",
                QuantOptions.help(QuantOptions.option("--block-size")));
        assertTrue(QuantOptions.help(QuantOptions.option("--share-codebooks")).startsWith("kmeans/gptvq/vptq: none"));
    }

    @Test
    void everyOptionOfEveryMethodReachesItsRecordAndComesBack() {
        for (Method<?> m : Methods.all()) {
            Map<String, Object> given = new LinkedHashMap<>();
            for (MethodOption<?> o : m.table().options()) {
                Object other = switch (o.type()) {
                    case INT -> 7;
                    case DOUBLE -> 0.5;
                    case FLAG -> true;
                    case TEXT -> o.name().equals("--config") ? null : "mahalanobis";
                    case INT_LIST -> List.of(4, 8);
                };
                if (other != null) {
                    given.put(o.name(), other);
                }
            }
            QuantSpec s = QuantOptions.build(m.name(), given);
            given.put("--percdamp", 0.01);
            if (m.sharesCodebooks()) {
                given.put("--share-codebooks", "none");
            }
            assertEquals(new LinkedHashMap<>(given).keySet().stream().sorted().toList(),
                    s.values().keySet().stream().sorted().toList(), m.name());
            given.forEach((k, v) -> assertEquals(v, s.values().get(k), m.name() + " " + k));
            assertEquals(s, Specs.with(s), m.name());
        }
    }

    @Test
    void theWrittenSpecIsFormatOnesRecord() {
        assertEquals("QuantSpec[method=kmeans, bits=4, groupSize=0, symmetric=false, dim=2, centroids=256, groupRows=0,"
                + " residualCentroids=[], outlierPercent=0.0, outlierCentroids=0, perm=false, norm=false,"
                + " actOrder=false,"
                + " blockSize=128, iters=25, tol=1.0E-4, init=kmeans++, codebookUpdate=true, blockNorm=0,"
                + " int8Codebooks=false, percdamp=0.01, shareCodebooks=none]", Specs.of("kmeans").toString());
        assertEquals("QuantSpec[method=vptq, bits=4, groupSize=128, symmetric=false, dim=8, centroids=256, groupRows=0,"
                + " residualCentroids=[16], outlierPercent=1.5, outlierCentroids=0, perm=true, norm=false,"
                + " actOrder=false, blockSize=128, iters=25, tol=1.0E-4, init=kmeans++, codebookUpdate=true,"
                + " blockNorm=0, int8Codebooks=false, percdamp=0.05, shareCodebooks=none]",
                Specs.of("vptq", "--config", "v8-k256-16", "--dim", 4, "--outlier-percent", 1.5, "--perm", true,
                        "--percdamp", 0.05).toString());
        assertEquals("QuantSpec[method=gptvq, bits=4, groupSize=0, symmetric=false, dim=2, centroids=256, groupRows=0,"
                + " residualCentroids=[], outlierPercent=0.0, outlierCentroids=0, perm=false, norm=false,"
                + " actOrder=false,"
                + " blockSize=128, iters=25, tol=1.0E-4, init=kmeans++, codebookUpdate=false, blockNorm=0,"
                + " int8Codebooks=false, percdamp=0.01, shareCodebooks=kind]",
                Specs.of("gptvq", "--no-codebook-update", true, "--share-codebooks", "kind").toString());
        assertEquals(List.of("method", "bits", "groupSize", "symmetric", "dim", "centroids", "groupRows",
                "residualCentroids", "outlierPercent", "outlierCentroids", "perm", "norm", "actOrder", "blockSize",
                "iters", "tol", "init", "codebookUpdate", "blockNorm", "int8Codebooks", "percdamp", "shareCodebooks"),
                List.copyOf(Specs.of("gptq").fields().keySet()));
    }

    @Test
    void badGivenOptionsAreRefusedByName() {
        assertEquals("--bogus: not an option of vq quantize", assertThrows(InputException.class,
                () -> QuantOptions.build("rtn", Map.of("--bogus", 1))).getMessage());
        assertEquals("--dim: not an option of --method rtn", assertThrows(InputException.class,
                () -> QuantOptions.build("rtn", Map.of("--dim", 2))).getMessage());
        // a flag given as false is not given
        assertFalse(QuantOptions.build("rtn", Map.of("--act-order", false)).sharesCodebooks());
        assertThrows(IllegalArgumentException.class, () -> QuantOptions.build("rtn", Map.of("--bits", "4")));
    }
}
