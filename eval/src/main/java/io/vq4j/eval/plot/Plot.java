package io.vq4j.eval.plot;

import io.vq4j.core.AtomicFiles;
import io.vq4j.core.InputException;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * A small scatter/line chart written as PNG with Java2D (headless): linear or logarithmic
 * axes with round ticks, a few series with distinct colours and markers, optional horizontal
 * reference lines, a legend. Points that cannot be drawn (not finite, or ≤ 0 on a log axis)
 * are left out and counted in a footnote, never silently.
 */
public final class Plot {
    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
            new Color(0xff7f0e), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x17becf)};
    private static final int W = 1000;
    private static final int H = 640;
    private static final int LEFT = 90;
    private static final int RIGHT = 250;
    private static final int TOP = 56;
    private static final int BOTTOM = 72;

    private record Series(String name, double[] x, double[] y, boolean line, String[] labels, double[] yLow,
                          double[] yHigh) {
    }

    private record RefLine(double y, String label) {
    }

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final boolean logX;
    private final boolean logY;
    private final List<Series> series = new ArrayList<>();
    private final List<RefLine> refs = new ArrayList<>();
    private String footnote = "";

    public Plot(String title, String xLabel, String yLabel, boolean logX, boolean logY) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
        this.logX = logX;
        this.logY = logY;
    }

    /** A series; with {@code line} its points are joined in order of x. */
    public Plot series(String name, double[] x, double[] y, boolean line) {
        return series(name, x, y, line, null);
    }

    /** A series whose points carry small text labels (null: none). */
    public Plot series(String name, double[] x, double[] y, boolean line, String[] labels) {
        if (x.length != y.length || (labels != null && labels.length != x.length)) {
            throw new IllegalArgumentException("series " + name + ": " + x.length + " x and " + y.length + " y");
        }
        series.add(new Series(name, x.clone(), y.clone(), line, labels == null ? null : labels.clone(), null, null));
        return this;
    }

    /**
     * A series with a vertical error bar at each point, from yLow[i] to yHigh[i] (e.g. the
     * minimum and maximum over seeds); the axis range covers the bars.
     */
    public Plot series(String name, double[] x, double[] y, double[] yLow, double[] yHigh, boolean line,
                       String[] labels) {
        if (x.length != y.length || yLow.length != y.length || yHigh.length != y.length
                || (labels != null && labels.length != x.length)) {
            throw new IllegalArgumentException("series " + name + ": " + x.length + " x, " + y.length + " y, "
                    + yLow.length + " low and " + yHigh.length + " high");
        }
        series.add(new Series(name, x.clone(), y.clone(), line, labels == null ? null : labels.clone(), yLow.clone(),
                yHigh.clone()));
        return this;
    }

    public Plot horizontal(double y, String label) {
        refs.add(new RefLine(y, label));
        return this;
    }

    public Plot footnote(String text) {
        this.footnote = text;
        return this;
    }

    private boolean drawable(double v, boolean log) {
        return Double.isFinite(v) && (!log || v > 0);
    }

    /** Renders and writes the PNG (to a temporary name, then renamed). */
    public void write(Path png) {
        BufferedImage im = render();
        try {
            Path tmp = AtomicFiles.tempFileBeside(png);
            try {
                if (!ImageIO.write(im, "png", tmp.toFile())) {
                    throw new IOException("no PNG writer");
                }
                AtomicFiles.commit(tmp, png);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw InputException.at(png, "cannot write: " + e.getMessage());
        }
    }

    /** The chart as an image. */
    public BufferedImage render() {
        double x0 = Double.POSITIVE_INFINITY;
        double x1 = Double.NEGATIVE_INFINITY;
        double y0 = Double.POSITIVE_INFINITY;
        double y1 = Double.NEGATIVE_INFINITY;
        int dropped = 0;
        int hiddenLabels = 0;
        for (Series s : series) {
            for (int i = 0; i < s.x.length; i++) {
                if (drawable(s.x[i], logX) && drawable(s.y[i], logY)) {
                    x0 = Math.min(x0, s.x[i]);
                    x1 = Math.max(x1, s.x[i]);
                    y0 = Math.min(y0, s.y[i]);
                    y1 = Math.max(y1, s.y[i]);
                    if (s.yLow != null && drawable(s.yLow[i], logY) && drawable(s.yHigh[i], logY)) {
                        y0 = Math.min(y0, s.yLow[i]);
                        y1 = Math.max(y1, s.yHigh[i]);
                    }
                } else {
                    dropped++;
                }
            }
        }
        for (RefLine r : refs) {
            if (drawable(r.y, logY)) {
                y0 = Math.min(y0, r.y);
                y1 = Math.max(y1, r.y);
            }
        }
        if (x0 > x1) {
            x0 = logX ? 1 : 0;
            x1 = logX ? 10 : 1;
        }
        if (y0 > y1) {
            y0 = logY ? 1 : 0;
            y1 = logY ? 10 : 1;
        }
        Axis ax = new Axis(x0, x1, logX, LEFT, W - RIGHT);
        Axis ay = new Axis(y0, y1, logY, H - BOTTOM, TOP);

        BufferedImage im = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = im.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, W, H);
            Font base = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
            g.setFont(base);
            FontMetrics fm = g.getFontMetrics();
            // grid and ticks
            g.setStroke(new BasicStroke(1f));
            for (double t : ax.ticks()) {
                int px = (int) Math.round(ax.map(t));
                g.setColor(new Color(0xe6e6e6));
                g.drawLine(px, TOP, px, H - BOTTOM);
                g.setColor(Color.DARK_GRAY);
                g.drawLine(px, H - BOTTOM, px, H - BOTTOM + 5);
                String s = label(t);
                g.drawString(s, px - fm.stringWidth(s) / 2, H - BOTTOM + 20);
            }
            for (double t : ay.ticks()) {
                int py = (int) Math.round(ay.map(t));
                g.setColor(new Color(0xe6e6e6));
                g.drawLine(LEFT, py, W - RIGHT, py);
                g.setColor(Color.DARK_GRAY);
                g.drawLine(LEFT - 5, py, LEFT, py);
                String s = label(t);
                g.drawString(s, LEFT - 8 - fm.stringWidth(s), py + fm.getAscent() / 2 - 1);
            }
            g.setColor(Color.BLACK);
            g.drawRect(LEFT, TOP, W - RIGHT - LEFT, H - BOTTOM - TOP);
            // reference lines (their labels' places are kept clear of point labels)
            List<Rectangle2D> taken = new ArrayList<>();
            g.setStroke(new BasicStroke(1.2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{6f, 4f}, 0f));
            for (RefLine r : refs) {
                if (!drawable(r.y, logY)) {
                    continue;
                }
                double py = ay.map(r.y);
                g.setColor(Color.GRAY);
                g.draw(new Line2D.Double(LEFT, py, W - RIGHT, py));
                g.drawString(r.label, W - RIGHT - 6 - fm.stringWidth(r.label), (int) py - 4);
                taken.add(new Rectangle2D.Double(W - RIGHT - 6 - fm.stringWidth(r.label), py - 4 - fm.getAscent(),
                        fm.stringWidth(r.label), fm.getAscent() + 2));
            }
            // series
            Shape clip = g.getClip();
            g.setClip(new Rectangle2D.Double(LEFT - 8, TOP - 8, W - RIGHT - LEFT + 16, H - BOTTOM - TOP + 16));
            for (int k = 0; k < series.size(); k++) {
                Series s = series.get(k);
                Color c = COLORS[k % COLORS.length];
                g.setColor(c);
                if (s.line) {
                    Integer[] order = new Integer[s.x.length];
                    for (int i = 0; i < order.length; i++) {
                        order[i] = i;
                    }
                    Arrays.sort(order, (a, b) -> Double.compare(s.x[a], s.x[b]));
                    g.setStroke(new BasicStroke(1.6f));
                    Path2D.Double path = new Path2D.Double();
                    boolean started = false;
                    for (int i : order) {
                        if (!drawable(s.x[i], logX) || !drawable(s.y[i], logY)) {
                            continue;
                        }
                        if (started) {
                            path.lineTo(ax.map(s.x[i]), ay.map(s.y[i]));
                        } else {
                            path.moveTo(ax.map(s.x[i]), ay.map(s.y[i]));
                            started = true;
                        }
                    }
                    g.draw(path);
                }
                if (s.yLow != null) {
                    g.setStroke(new BasicStroke(1.2f));
                    for (int i = 0; i < s.x.length; i++) {
                        if (drawable(s.x[i], logX) && drawable(s.yLow[i], logY) && drawable(s.yHigh[i], logY)) {
                            double px = ax.map(s.x[i]);
                            double lo = ay.map(s.yLow[i]);
                            double hi = ay.map(s.yHigh[i]);
                            g.draw(new Line2D.Double(px, lo, px, hi));
                            g.draw(new Line2D.Double(px - 4, lo, px + 4, lo));
                            g.draw(new Line2D.Double(px - 4, hi, px + 4, hi));
                        }
                    }
                }
                g.setStroke(new BasicStroke(1.4f));
                for (int i = 0; i < s.x.length; i++) {
                    if (drawable(s.x[i], logX) && drawable(s.y[i], logY)) {
                        Shape m = marker(k, ax.map(s.x[i]), ay.map(s.y[i]));
                        g.fill(m);
                        g.setColor(Color.BLACK);
                        g.draw(m);
                        g.setColor(c);
                    }
                }
            }
            // point labels, small, beside their markers: the first of four places that stays inside the
            // plot and clear of the labels already drawn; a label with no such place is left out and counted
            g.setFont(base.deriveFont(10.5f));
            FontMetrics sf = g.getFontMetrics();
            Rectangle2D area = new Rectangle2D.Double(LEFT, TOP, W - RIGHT - LEFT, H - BOTTOM - TOP);
            for (Series s : series) {
                if (s.labels == null) {
                    continue;
                }
                g.setColor(new Color(0x404040));
                for (int i = 0; i < s.x.length; i++) {
                    if (s.labels[i] == null || !drawable(s.x[i], logX) || !drawable(s.y[i], logY)) {
                        continue;
                    }
                    double px = ax.map(s.x[i]);
                    double py = ay.map(s.y[i]);
                    double tw = sf.stringWidth(s.labels[i]);
                    double th = sf.getAscent();
                    double[][] places = {{px + 8, py - 5}, {px + 8, py + th + 5}, {px - 8 - tw, py - 5},
                            {px - 8 - tw, py + th + 5}};
                    boolean drawn = false;
                    for (double[] at : places) {
                        Rectangle2D box = new Rectangle2D.Double(at[0], at[1] - th, tw, th + 2);
                        if (!area.contains(box) || taken.stream().anyMatch(box::intersects)) {
                            continue;
                        }
                        g.drawString(s.labels[i], (float) at[0], (float) at[1]);
                        taken.add(box);
                        drawn = true;
                        break;
                    }
                    if (!drawn) {
                        hiddenLabels++;
                    }
                }
            }
            g.setFont(base);
            g.setClip(clip);
            // legend
            int ly = TOP + 8;
            for (int k = 0; k < series.size(); k++) {
                Color c = COLORS[k % COLORS.length];
                g.setColor(c);
                g.fill(marker(k, W - RIGHT + 24, ly + 6));
                g.setColor(Color.BLACK);
                g.setStroke(new BasicStroke(1.4f));
                g.draw(marker(k, W - RIGHT + 24, ly + 6));
                g.drawString(series.get(k).name, W - RIGHT + 38, ly + 11);
                ly += 22;
            }
            // labels
            g.setColor(Color.BLACK);
            g.setFont(base.deriveFont(Font.BOLD, 16f));
            FontMetrics tf = g.getFontMetrics();
            g.drawString(title, (W - RIGHT + LEFT) / 2 - tf.stringWidth(title) / 2, TOP - 22);
            g.setFont(base.deriveFont(14f));
            FontMetrics lf = g.getFontMetrics();
            g.drawString(xLabel, (W - RIGHT + LEFT) / 2 - lf.stringWidth(xLabel) / 2, H - BOTTOM + 46);
            Graphics2D r = (Graphics2D) g.create();
            r.rotate(-Math.PI / 2);
            r.drawString(yLabel, -((H - BOTTOM + TOP) / 2 + lf.stringWidth(yLabel) / 2), 24);
            r.dispose();
            g.setFont(base.deriveFont(12f));
            String note = footnote;
            if (dropped > 0) {
                note = (note.isEmpty() ? "" : note + "; ") + dropped + " point(s) off scale (not finite"
                        + (logX || logY ? " or <= 0 on a log axis" : "") + ") not drawn";
            }
            if (hiddenLabels > 0) {
                note = (note.isEmpty() ? "" : note + "; ") + hiddenLabels + " label(s) left out where they would"
                        + " overlap";
            }
            g.setColor(Color.DARK_GRAY);
            g.drawString(note, LEFT, H - 10);
        } catch (Error | RuntimeException e) {
            // no usable font (fontconfig without fonts) surfaces here
            throw new InputException("cannot draw the plot '" + title + "' (is a font installed? Debian: fontconfig"
                    + " fonts-dejavu-core): " + e);
        } finally {
            g.dispose();
        }
        return im;
    }

    private static Shape marker(int k, double x, double y) {
        double r = 5;
        return switch (k % 4) {
            case 0 -> new Ellipse2D.Double(x - r, y - r, 2 * r, 2 * r);
            case 1 -> new Rectangle2D.Double(x - r + 0.5, y - r + 0.5, 2 * r - 1, 2 * r - 1);
            case 2 -> {
                Path2D.Double p = new Path2D.Double();
                p.moveTo(x, y - r - 1);
                p.lineTo(x + r + 1, y + r);
                p.lineTo(x - r - 1, y + r);
                p.closePath();
                yield p;
            }
            default -> {
                Path2D.Double p = new Path2D.Double();
                p.moveTo(x, y - r - 1);
                p.lineTo(x + r + 1, y);
                p.lineTo(x, y + r + 1);
                p.lineTo(x - r - 1, y);
                p.closePath();
                yield p;
            }
        };
    }

    /** A tick label: plain decimals in [1e-3, 1e5), else 1e-4 style. */
    static String label(double v) {
        if (v == 0) {
            return "0";
        }
        double a = Math.abs(v);
        if (a >= 1e-3 && a < 1e5) {
            return new BigDecimal(String.format(Locale.ROOT, "%.6g", v)).stripTrailingZeros().toPlainString();
        }
        int e = (int) Math.floor(Math.log10(a));
        double m = v / Math.pow(10, e);
        String ms = new BigDecimal(String.format(Locale.ROOT, "%.3g", m)).stripTrailingZeros().toPlainString();
        return (ms.equals("1") ? "" : ms.equals("-1") ? "-" : ms + "x") + "1e" + e;
    }

    /** One axis: the data range padded, mapped onto pixels [p0, p1]. */
    static final class Axis {
        final double lo;
        final double hi;
        final boolean log;
        final double p0;
        final double p1;

        Axis(double min, double max, boolean log, double p0, double p1) {
            this.log = log;
            this.p0 = p0;
            this.p1 = p1;
            double a = log ? Math.log10(min) : min;
            double b = log ? Math.log10(max) : max;
            if (b - a < 1e-12) {
                double pad = log ? 0.5 : Math.max(Math.abs(a) * 0.1, 1e-6);
                a -= pad;
                b += pad;
            }
            double pad = (b - a) * 0.06;
            this.lo = a - pad;
            this.hi = b + pad;
        }

        double map(double v) {
            double t = ((log ? Math.log10(v) : v) - lo) / (hi - lo);
            return p0 + t * (p1 - p0);
        }

        /** Round tick values inside the range: 1-2-5 steps, or on a log axis decades (with 2 and 5 when few). */
        List<Double> ticks() {
            List<Double> out = new ArrayList<>();
            if (log) {
                int d0 = (int) Math.floor(lo);
                int d1 = (int) Math.ceil(hi);
                int[] mult = d1 - d0 <= 2 ? new int[]{1, 2, 5} : new int[]{1};
                int every = Math.max(1, (d1 - d0) / 8);
                for (int d = d0; d <= d1; d++) {
                    if ((d - d0) % every != 0) {
                        continue;
                    }
                    for (int m : mult) {
                        double v = m * Math.pow(10, d);
                        double l = Math.log10(v);
                        if (l >= lo && l <= hi) {
                            out.add(v);
                        }
                    }
                }
                if (out.size() < 2) {
                    // a range inside one 1-2-5 step: fall back to linear ticks of the values
                    Axis lin = new Axis(Math.pow(10, lo), Math.pow(10, hi), false, p0, p1);
                    return lin.ticks().stream().filter(v -> v > 0).toList();
                }
                return out;
            }
            double raw = (hi - lo) / 6;
            double mag = Math.pow(10, Math.floor(Math.log10(raw)));
            double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
            for (double v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) {
                out.add(Math.abs(v) < step * 1e-9 ? 0 : v);
            }
            return out;
        }
    }
}
