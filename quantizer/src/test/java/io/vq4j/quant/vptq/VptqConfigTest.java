package io.vq4j.quant.vptq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.vq4j.quant.Specs;
import java.util.List;
import org.junit.jupiter.api.Test;

class VptqConfigTest {
    @Test
    void parsesThePublishedNames() {
        assertEquals(new VptqConfig(8, 65536, List.of(256)), VptqConfig.parse("v8-k65536-256"));
        assertEquals(new VptqConfig(8, 4096, List.of()), VptqConfig.parse("v8-k4096"));
        assertEquals(new VptqConfig(8, 65536, List.of()), VptqConfig.parse("v8-k65536-0"));
        assertEquals(new VptqConfig(4, 256, List.of(16, 16)), VptqConfig.parse("v4-k256-16-16"));
        assertEquals("v4-k256-16-16", VptqConfig.parse("v4-k256-16-16").name());
    }

    @Test
    void malformedNamesGiveOneLine() {
        for (String bad : new String[] {"", "v8", "k65536-v8", "v8-k", "v8-k65536-", "v8-k65536-256-woft", "V8-K256",
                                        "v8-k256--16", "v8-k 256"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VptqConfig.parse(bad));
            assertEquals("VPTQ config '" + bad + "' is not of the form v<d>-k<k>[-<k_res>...], e.g. v8-k65536-256",
                    e.getMessage());
        }
        assertEquals("VPTQ config 'v17-k256': VPTQ vector length must be 1..16, got 17",
                assertThrows(IllegalArgumentException.class, () -> VptqConfig.parse("v17-k256")).getMessage());
        assertEquals("VPTQ config 'v8-k131072': VPTQ centroids must be 2..65536, got 131072",
                assertThrows(IllegalArgumentException.class, () -> VptqConfig.parse("v8-k131072")).getMessage());
        assertEquals("VPTQ config 'v8-k256-0-0': VPTQ residual centroids must be 2..65536, got 0",
                assertThrows(IllegalArgumentException.class, () -> VptqConfig.parse("v8-k256-0-0")).getMessage());
    }

    @Test
    void applySetsDimCentroidsAndResidualStages() {
        VptqOptions s = VptqConfig.parse("v8-k65536-256").apply(Vptq.METHOD.defaults());
        assertEquals(8, s.dim());
        assertEquals(65536, s.centroids());
        assertEquals(List.of(256), s.residualCentroids());
        assertEquals("vptq", s.method().name());
    }

    @Test
    void nominalBitsFollowTheWriteUps() {
        VptqOptions d = Vptq.METHOD.defaults();
        // 16/8 + 8/8 = 3 (the write-ups' v8-k65536-256 example)
        assertEquals(3.0, VptqConfig.nominalBitsPerWeight(VptqConfig.parse("v8-k65536-256").apply(d)), 1e-12);
        assertEquals(1.5, VptqConfig.nominalBitsPerWeight(VptqConfig.parse("v8-k4096").apply(d)), 1e-12);
        assertEquals(0.5, VptqConfig.nominalBitsPerWeight(VptqConfig.parse("v16-k256").apply(d)), 1e-12);
        // 1 % outliers at k 65536 among k 256 columns, d 8: 0.99·8/8 + 0.01·16/8 = 1.01
        VptqOptions out = Specs.with(VptqConfig.parse("v8-k256").apply(d), "--outlier-percent", 1.0,
                "--outlier-centroids", 65536);
        assertEquals(1.01, VptqConfig.nominalBitsPerWeight(out), 1e-12);
        // a k that is not a power of two is stored with ⌈log2 k⌉ bits: 1000 → 10
        assertEquals(2.5, VptqConfig.nominalBitsPerWeight(Specs.with(d, "--dim", 4, "--centroids", 1000)), 1e-12);
    }
}
