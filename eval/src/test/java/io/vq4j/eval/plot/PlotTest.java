package io.vq4j.eval.plot;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The chart puts points where the axes say, with round ticks, and writes a readable PNG. */
class PlotTest {
    @Test
    void ticksAreRoundAndInsideTheRange() {
        Plot.Axis lin = new Plot.Axis(2.37, 3.61, false, 0, 100);
        List<Double> t = lin.ticks();
        assertTrue(t.size() >= 4 && t.size() <= 10, t.toString());
        for (double v : t) {
            assertEquals(Math.round(v * 5) / 5.0, v, 1e-9, "multiples of 0.2: " + t);
            assertTrue(v >= lin.lo && v <= lin.hi);
        }
        // log10 range 0.18..2.70, padded by 6 %: 0.02..2.85, so the decades 10 and 100 only
        assertEquals(List.of(10.0, 100.0), new Plot.Axis(1.5, 500, true, 0, 100).ticks());
        assertEquals(List.of(1.0, 10.0, 100.0, 1000.0), new Plot.Axis(0.8, 2000, true, 0, 100).ticks());
        // less than a decade: 1-2-5 ticks
        assertEquals(List.of(0.02, 0.05, 0.1), new Plot.Axis(0.013, 0.092, true, 0, 100).ticks());
        assertEquals("0.05", Plot.label(0.05));
        assertEquals("1e-4", Plot.label(1e-4));
        assertEquals("2.5x1e5", Plot.label(2.5e5));
        assertEquals("3", Plot.label(3.0000000000000004));
    }

    @Test
    void pointsLandWhereTheAxesMapThem(@TempDir Path dir) throws Exception {
        Plot p = new Plot("t", "x", "y", false, true)
                .series("a", new double[]{1, 2, 3}, new double[]{1, 10, 100}, false)
                .series("b", new double[]{2, Double.NaN}, new double[]{-5, 3}, false);
        Path png = dir.resolve("p.png");
        p.write(png);
        BufferedImage im = ImageIO.read(png.toFile());
        assertEquals(1000, im.getWidth());
        assertEquals(640, im.getHeight());
        // the middle point (2, 10) sits in the middle of both padded axes; its marker is series a's blue
        Plot.Axis ax = new Plot.Axis(1, 3, false, 90, 1000 - 250);
        Plot.Axis ay = new Plot.Axis(1, 100, true, 640 - 72, 56);
        int px = (int) Math.round(ax.map(2));
        int py = (int) Math.round(ay.map(10));
        assertEquals(0x1f77b4, im.getRGB(px, py) & 0xffffff);
        assertEquals(ax.map(2), (90 + 750) / 2.0, 1e-9);
        // nothing drawn far from any point in the plot area's empty corner
        assertEquals(0xffffff, im.getRGB(px + 200, py + 150) & 0xffffff);
        assertTrue(Files.list(dir).allMatch(f -> f.equals(png)), "no temporary file left behind");
    }
}
