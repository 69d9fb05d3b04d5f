package io.vq4j.eval.sweep;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SpreadTest {
    static Sweep.Result run(String name, double ratio, long seed) {
        return new Sweep.Result(name, name, "kmeans", Map.of(), List.of(), 2, 2, 0, 1, ratio, 1, 0, 0, 0, 0, 0, "cpu",
                List.of(), seed);
    }

    @Test
    void meanSampleSdMinMax() {
        Spread s = Spread.of(new double[] {2, 4, 4, 4, 5, 5, 7, 9});
        assertEquals(5.0, s.mean(), 0.0);
        assertEquals(Math.sqrt(32.0 / 7), s.sd(), 1e-15);
        assertEquals(2.0, s.min(), 0.0);
        assertEquals(9.0, s.max(), 0.0);
        assertEquals(8, s.n());
        // equal runs: exactly their value (0.1 + 0.1 + 0.1 != 0.3, so a plain sum / n would not be)
        double x = 0.9864428694354712;
        Spread same = Spread.of(new double[] {x, x, x});
        assertEquals(x, same.mean(), 0.0);
        assertEquals(0.0, same.sd(), 0.0);
        Spread one = Spread.of(new double[] {3.5});
        assertEquals(3.5, one.mean(), 0.0);
        assertEquals(0.0, one.sd(), 0.0);
        // a NaN run is not hidden by min/max
        Spread nan = Spread.of(new double[] {1, Double.NaN});
        assertTrue(Double.isNaN(nan.mean()) && Double.isNaN(nan.min()) && Double.isNaN(nan.max()));
    }

    @Test
    void groupsKeepTheSweepOrderAndOrderingsOnlyBeyondTheSpread() {
        List<Sweep.Result> rs = List.of(run("b", 1.30, 0), run("b", 1.40, 1), run("a", 1.10, 0), run("a", 1.20, 1),
                run("c", 1.35, 0), run("c", 1.60, 1));
        List<Spread.Group> g = Spread.groups(rs);
        assertEquals(List.of("b", "a", "c"), g.stream().map(Spread.Group::name).toList());
        assertEquals(1.15, g.get(1).of(Sweep.Result::pplRatio).mean(), 1e-15);
        // a [1.1, 1.2] lies below b [1.3, 1.4]; b and c [1.35, 1.6] overlap
        assertEquals(List.of("a < b", "b ~ c"), SweepReport.orderings(g));
        assertTrue(g.get(1).of(Sweep.Result::pplRatio).entirelyBelow(g.get(0).of(Sweep.Result::pplRatio)));
        assertFalse(g.get(0).of(Sweep.Result::pplRatio).entirelyBelow(g.get(2).of(Sweep.Result::pplRatio)));
    }
}
