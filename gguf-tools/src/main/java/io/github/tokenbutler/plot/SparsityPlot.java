package io.github.tokenbutler.plot;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A metric against target sparsity, one line per policy and the dense value as a dashed horizontal
 * reference, in the style of the paper's perplexity figures. Drawn with java.awt on a headless image;
 * labels use {@link BitmapFont} so the PNG is the same on every machine.
 *
 * <p>The y axis turns logarithmic when all values are positive and the largest is more than 3× the
 * smallest: a random policy at high sparsity would otherwise squash every other line flat.
 */
public final class SparsityPlot {
    private SparsityPlot() {}

    /** One line: (target sparsity, value) points; non-finite values are left out. */
    public record Series(String name, List<double[]> points) {}

    public static final int WIDTH = 960, HEIGHT = 600;
    private static final int LEFT = 100, RIGHT = 210, TOP = 60, BOTTOM = 80;
    private static final Color AXIS = new Color(40, 40, 40), GRID = new Color(225, 225, 225), REFERENCE = new Color(110, 110, 110);
    private static final Map<String, Color> POLICY_COLORS = Map.of(
            "oracle", new Color(20, 20, 20),
            "tokenbutler", new Color(214, 39, 40),
            "h2o", new Color(31, 119, 180),
            "streaming", new Color(44, 160, 44),
            "quest", new Color(255, 127, 14),
            "random", new Color(148, 103, 189));
    private static final Color[] PALETTE = {
            new Color(140, 86, 75), new Color(227, 119, 194), new Color(188, 189, 34), new Color(23, 190, 207)};

    public static Color colorOf(String policy, int index) {
        Color c = POLICY_COLORS.get(policy);
        return c != null ? c : PALETTE[index % PALETTE.length];
    }

    /**
     * @param referenceName legend text of the dashed line (e.g. "dense"), or null for none
     * @param referenceY    its value (ignored when referenceName is null or the value is not finite)
     */
    public static BufferedImage render(String title, String xLabel, String yLabel, List<Series> series,
                                       String referenceName, double referenceY) {
        BufferedImage img = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, HEIGHT);
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);

            boolean hasReference = referenceName != null && Double.isFinite(referenceY);
            List<Double> ys = new ArrayList<>();
            for (Series s : series) for (double[] p : s.points()) if (Double.isFinite(p[1])) ys.add(p[1]);
            if (hasReference) ys.add(referenceY);
            Axis y = Axis.forValues(ys);

            int x0 = LEFT, x1 = WIDTH - RIGHT, y0 = HEIGHT - BOTTOM, y1 = TOP;
            // Grid and ticks. x: target sparsity 0..100 % every 10 %.
            for (int i = 0; i <= 10; i++) {
                double px = x0 + (x1 - x0) * i / 10.0;
                g.setColor(GRID);
                g.draw(new Line2D.Double(px, y1, px, y0));
                String label = (i * 10) + "%";
                BitmapFont.draw(img, label, (int) Math.round(px) - BitmapFont.width(label, 2) / 2, y0 + 10, 2, AXIS);
            }
            for (double t : y.ticks()) {
                double py = y0 - (y0 - y1) * y.fraction(t);
                g.setColor(GRID);
                g.draw(new Line2D.Double(x0, py, x1, py));
                String label = Axis.label(t);
                BitmapFont.draw(img, label, x0 - 8 - BitmapFont.width(label, 2), (int) Math.round(py) - BitmapFont.capHeight(2) / 2, 2, AXIS);
            }
            g.setColor(AXIS);
            g.setStroke(new BasicStroke(1.5f));
            g.drawRect(x0, y1, x1 - x0, y0 - y1);

            if (hasReference) {
                double py = y0 - (y0 - y1) * y.fraction(referenceY);
                g.setColor(REFERENCE);
                g.setStroke(new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{8f, 6f}, 0f));
                g.draw(new Line2D.Double(x0, py, x1, py));
            }
            for (int i = 0; i < series.size(); i++) {
                Series s = series.get(i);
                List<double[]> pts = new ArrayList<>();
                for (double[] p : s.points()) if (Double.isFinite(p[0]) && Double.isFinite(p[1])) pts.add(p);
                pts.sort(Comparator.comparingDouble(p -> p[0]));
                g.setColor(colorOf(s.name(), i));
                g.setStroke(new BasicStroke(2.5f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                Path2D.Double line = new Path2D.Double();
                for (int k = 0; k < pts.size(); k++) {
                    double px = x0 + (x1 - x0) * pts.get(k)[0], py = y0 - (y0 - y1) * y.fraction(pts.get(k)[1]);
                    if (k == 0) line.moveTo(px, py); else line.lineTo(px, py);
                }
                if (pts.size() > 1) g.draw(line);
                for (double[] p : pts) {
                    double px = x0 + (x1 - x0) * p[0], py = y0 - (y0 - y1) * y.fraction(p[1]);
                    g.fill(new Ellipse2D.Double(px - 4.5, py - 4.5, 9, 9));
                }
            }

            // Legend, right of the plot area.
            int lx = x1 + 20, ly = y1 + 4;
            int row = 0;
            if (hasReference) {
                g.setColor(REFERENCE);
                g.setStroke(new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{8f, 6f}, 0f));
                g.draw(new Line2D.Double(lx, ly + 7, lx + 30, ly + 7));
                BitmapFont.draw(img, referenceName, lx + 40, ly, 2, AXIS);
                row++;
            }
            for (int i = 0; i < series.size(); i++) {
                int ry = ly + row * 26;
                g.setColor(colorOf(series.get(i).name(), i));
                g.setStroke(new BasicStroke(2.5f));
                g.draw(new Line2D.Double(lx, ry + 7, lx + 30, ry + 7));
                g.fill(new Ellipse2D.Double(lx + 15 - 4.5, ry + 7 - 4.5, 9, 9));
                BitmapFont.draw(img, series.get(i).name(), lx + 40, ry, 2, AXIS);
                row++;
            }

            int titleScale = BitmapFont.width(title, 2) <= WIDTH - 20 ? 2 : 1;
            BitmapFont.draw(img, title, (WIDTH - BitmapFont.width(title, titleScale)) / 2, 20, titleScale, Color.BLACK);
            BitmapFont.draw(img, xLabel, x0 + (x1 - x0 - BitmapFont.width(xLabel, 2)) / 2, y0 + 44, 2, Color.BLACK);
            String yText = yLabel + (y.log() ? " (log scale)" : "");
            BitmapFont.drawVertical(img, yText, 18, y1 + (y0 - y1 - BitmapFont.width(yText, 2)) / 2, 2, Color.BLACK);
        } finally {
            g.dispose();
        }
        return img;
    }

    /** A value axis: its range, linear or log, and round tick values. */
    record Axis(double min, double max, boolean log, List<Double> ticks) {
        static Axis forValues(List<Double> values) {
            if (values.isEmpty()) return linear(0, 1);
            double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
            for (double v : values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
            if (lo > 0 && hi / lo > 3) return logarithmic(lo, hi);
            if (hi == lo) {
                double pad = lo == 0 ? 1 : Math.abs(lo) * 0.1;
                return linear(lo - pad, hi + pad);
            }
            double pad = (hi - lo) * 0.08;
            double min = lo - pad;
            // Error rates and perplexities are never negative: do not draw a negative axis for them.
            if (lo >= 0 && min < 0) min = 0;
            return linear(min, hi + pad);
        }

        static Axis linear(double min, double max) {
            double step = niceStep((max - min) / 6);
            double first = Math.ceil(min / step - 1e-9) * step;
            List<Double> ticks = new ArrayList<>();
            for (double t = first; t <= max + step * 1e-9; t += step) ticks.add(Math.abs(t) < step * 1e-9 ? 0 : t);
            return new Axis(min, max, false, ticks);
        }

        static Axis logarithmic(double lo, double hi) {
            double min = lo / 1.15, max = hi * 1.15;
            List<Double> ticks = new ArrayList<>();
            for (int e = (int) Math.floor(Math.log10(min)); e <= (int) Math.ceil(Math.log10(max)); e++) {
                for (int m : new int[]{1, 2, 5}) {
                    double t = m * Math.pow(10, e);
                    if (t >= min && t <= max) ticks.add(t);
                }
            }
            // A narrow log range (e.g. 3.5..22) holds few 1-2-5 values: use every integer multiple then.
            if (ticks.size() < 5) {
                ticks.clear();
                for (int e = (int) Math.floor(Math.log10(min)); e <= (int) Math.ceil(Math.log10(max)); e++) {
                    for (int m = 1; m <= 9; m++) {
                        double t = m * Math.pow(10, e);
                        if (t >= min && t <= max) ticks.add(t);
                    }
                }
            }
            return new Axis(min, max, true, ticks);
        }

        static double niceStep(double raw) {
            double p = Math.pow(10, Math.floor(Math.log10(raw)));
            double f = raw / p;
            return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
        }

        /** Position of a value along the axis, 0 at min and 1 at max. */
        double fraction(double v) {
            if (log) return (Math.log(v) - Math.log(min)) / (Math.log(max) - Math.log(min));
            return (v - min) / (max - min);
        }

        /** Shortest label that tells ticks apart: up to three significant decimals, no trailing zeros. */
        static String label(double v) {
            String s = String.format(Locale.ROOT, Math.abs(v) >= 100 ? "%.0f" : Math.abs(v) >= 10 ? "%.1f" : "%.3f", v);
            if (s.contains(".")) s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
            return s;
        }
    }
}
