package io.vq4j.eval.sweep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vq4j.core.InputException;
import io.vq4j.quant.gptq.GptqOptions;
import io.vq4j.quant.gptvq.GptvqOptions;
import io.vq4j.quant.kmeans.KMeansOptions;
import io.vq4j.quant.rtn.RtnOptions;
import io.vq4j.quant.vptq.VptqOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sweep's configuration language: crossing, flags, lists, files, and every error. */
class SweepSpecTest {
    static RtnOptions rtn(SweepSpec.Config c) {
        return (RtnOptions) c.spec().options();
    }

    static GptqOptions gptq(SweepSpec.Config c) {
        return (GptqOptions) c.spec().options();
    }

    static KMeansOptions kmeans(SweepSpec.Config c) {
        return (KMeansOptions) c.spec().options();
    }

    static GptvqOptions gptvq(SweepSpec.Config c) {
        return (GptvqOptions) c.spec().options();
    }

    static VptqOptions vptq(SweepSpec.Config c) {
        return (VptqOptions) c.spec().options();
    }

    @Test
    void optionsAreCrossedInOrder() {
        List<SweepSpec.Config> c = SweepSpec.parse("rtn:bits=2,3,4;kmeans:dim=2,4,centroids=16,64");
        assertEquals(List.of("rtn bits=2", "rtn bits=3", "rtn bits=4", "kmeans dim=2 centroids=16",
                "kmeans dim=2 centroids=64", "kmeans dim=4 centroids=16", "kmeans dim=4 centroids=64"),
                c.stream().map(SweepSpec.Config::name).toList());
        assertEquals(3, rtn(c.get(2)).bits() + 0 * rtn(c.get(1)).bits() - 1);
        assertEquals(4, kmeans(c.get(5)).dim());
        assertEquals(16, kmeans(c.get(5)).centroids());
        assertEquals(0, kmeans(c.get(5)).groupSize(), "kmeans codebooks default to whole rows, as in vq quantize");
        assertEquals("kmeans-dim4-centroids16", c.get(5).slug());
        assertEquals(List.of("--method", "kmeans", "--dim", "4", "--centroids", "16"), c.get(5).arguments());
    }

    @Test
    void flagsListsAndDashes() {
        List<SweepSpec.Config> c = SweepSpec.parse(" gptq : --bits=3 , act-order , group-size=64 ; "
                + "vptq:dim=2,centroids=16,residual-centroids=4+4,none;gptvq:int8-codebooks=true,false");
        assertEquals("gptq bits=3 act-order=true group-size=64", c.get(0).name());
        assertTrue(gptq(c.get(0)).actOrder());
        assertEquals(64, gptq(c.get(0)).groupSize());
        assertEquals(List.of(4, 4), vptq(c.get(1)).residualCentroids());
        assertEquals("vptq-dim2-centroids16-residual-centroids4+4", c.get(1).slug());
        assertEquals(List.of("--method", "vptq", "--dim", "2", "--centroids", "16", "--residual-centroids", "4",
                "--residual-centroids", "4"), c.get(1).arguments());
        assertEquals(List.of(), vptq(c.get(2)).residualCentroids());
        assertTrue(gptvq(c.get(3)).int8Codebooks());
        assertFalse(gptvq(c.get(4)).int8Codebooks());
        assertEquals(List.of("--method", "gptvq"), c.get(4).arguments());
        // a method alone is its defaults
        assertEquals(4, rtn(SweepSpec.parse("rtn").getFirst()).bits());
    }

    @Test
    void aFileHoldsOneEntryPerLine(@TempDir Path dir) throws Exception {
        Path f = Files.writeString(dir.resolve("configs.txt"), """
                # scalar baselines
                rtn:bits=2,3

                gptvq:dim=2,centroids=16,block-norm=16   # with block scales
                """);
        assertEquals(List.of("rtn bits=2", "rtn bits=3", "gptvq dim=2 centroids=16 block-norm=16"),
                SweepSpec.read(f).stream().map(SweepSpec.Config::name).toList());
        InputException e = assertThrows(InputException.class, () -> SweepSpec.read(dir.resolve("none.txt")));
        assertTrue(e.getMessage().contains("none.txt"), e.getMessage());
    }

    @Test
    void errorsNameTheEntryAndTheOption() {
        String[][] cases = {
                {"", "no configurations"},
                {" ; ", "no configurations"},
                {"awq:bits=4", "unknown method 'awq'"},
                {"rtn:bitz=4", "unknown option 'bitz'"},
                {"rtn:centroids=16", "'centroids' is not an option of rtn"},
                {"rtn:bits=two", "bits: 'two' is not an integer"},
                {"rtn:bits=2,,3", "an empty item"},
                {"rtn:bits=", "option 'bits' has an empty value"},
                {"rtn:", "nothing after ':'"},
                {"rtn:4", "'4' is not name=value"},
                {"rtn:bits=2,bits=3", "given twice"},
                {"rtn:bits=2;rtn:bits=2", "appears twice"},
                {"kmeans:int8-codebooks=maybe", "'maybe' is not true or false"},
                {"vptq:residual-centroids=4+x", "not a list of integers"},
                {"vptq:config=v9-nonsense", "--config"},
                {"kmeans:tol=NaN", "not a finite number"},
        };
        for (String[] c : cases) {
            InputException e = assertThrows(InputException.class, () -> SweepSpec.parse(c[0]), c[0]);
            assertTrue(e.getMessage().startsWith("--configs: "), e.getMessage());
            assertTrue(e.getMessage().contains(c[1]), c[0] + " -> " + e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }
}
