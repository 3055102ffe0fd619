package io.github.tokenbutler.plot;

import org.jfree.chart.JFreeChart;
import org.jfree.chart.LegendItem;
import org.jfree.chart.LegendItemCollection;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.block.BlockBorder;
import org.jfree.chart.labels.StandardXYItemLabelGenerator;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.LegendTitle;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Shape;
import java.awt.Stroke;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.text.DecimalFormat;
import java.text.DecimalFormatSymbols;
import java.text.NumberFormat;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A metric against target sparsity, one line per policy and the dense value as a dashed reference line, in the
 * style of the paper's perplexity figures. Both axes are linear and span the data (not 0-100 %), so that
 * the policies that matter, which differ by a few percent, are told apart. A policy far off the others (random
 * perplexity runs to 4-13× dense) would flatten them all: such policies are drawn apart, in a smaller panel
 * below that shares the x axis, with their values written at the points.
 */
public final class SparsityPlot {
    static {
        // A chart is drawn into an image: no display is needed, and CI has none.
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private SparsityPlot() {}

    /** One line: (target sparsity, value) points; non-finite values are left out. */
    public record Series(String name, List<double[]> points) {}

    public static final int WIDTH = 960, HEIGHT = 640;
    /** The share of the height the apart panel gets, when there is one. */
    static final int MAIN_WEIGHT = 3, APART_WEIGHT = 1;
    private static final String FONT = Font.SANS_SERIF;
    private static final Color AXIS = new Color(40, 40, 40), GRID = new Color(215, 215, 215), REFERENCE = new Color(110, 110, 110);
    private static final Map<String, Color> POLICY_COLORS = Map.of(
            "oracle", new Color(20, 20, 20),
            "tokenbutler", new Color(214, 39, 40),
            "tokenbutler v2", new Color(227, 119, 194),
            "h2o", new Color(31, 119, 180),
            "streaming", new Color(44, 160, 44),
            "quest", new Color(255, 127, 14),
            "random", new Color(148, 103, 189));
    private static final Color[] PALETTE = {
            new Color(140, 86, 75), new Color(188, 189, 34), new Color(23, 190, 207), new Color(127, 127, 127)};
    private static final Stroke DASHED = new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{8f, 6f}, 0f);

    public static Color colorOf(String policy, int index) {
        Color c = POLICY_COLORS.get(policy);
        return c != null ? c : PALETTE[index % PALETTE.length];
    }

    /**
     * @param apart         names of the series drawn in the panel below, on their own y axis (may be empty)
     * @param referenceName legend text of the dashed line (e.g. "dense"), or null for none
     * @param referenceY    its value (ignored when referenceName is null or the value is not finite)
     */
    public static BufferedImage render(String title, String subtitle, String xLabel, String yLabel, List<Series> series,
                                       Set<String> apart, String referenceName, double referenceY) {
        return chart(title, subtitle, xLabel, yLabel, series, apart, referenceName, referenceY)
                .createBufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB, null);
    }

    static JFreeChart chart(String title, String subtitle, String xLabel, String yLabel, List<Series> series,
                            Set<String> apart, String referenceName, double referenceY) {
        boolean hasReference = referenceName != null && Double.isFinite(referenceY);
        List<Series> main = new ArrayList<>(), below = new ArrayList<>();
        for (Series s : series) (apart.contains(s.name()) ? below : main).add(s);
        if (main.isEmpty()) { main = below; below = List.of(); } // nothing to keep apart from

        NumberAxis x = new NumberAxis(xLabel);
        Range xr = Range.sparsity(series);
        x.setRange(xr.lo(), xr.hi());
        x.setTickUnit(new NumberTickUnit(xr.hi() - xr.lo() <= 0.65 ? 0.05 : 0.1, NumberFormat.getPercentInstance(Locale.ROOT)));
        styleAxis(x);

        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(x);
        plot.setGap(18);
        List<String> names = new ArrayList<>();
        for (Series s : series) names.add(s.name());
        plot.add(panel(main, names, yLabel, hasReference, referenceY, false), MAIN_WEIGHT);
        if (!below.isEmpty()) {
            String which = String.join(", ", below.stream().map(Series::name).toList());
            plot.add(panel(below, names, which + " (own scale)", hasReference, referenceY, true), APART_WEIGHT);
        }

        // The legend: the reference first, then the policies in the order given (those apart too).
        LegendItemCollection items = new LegendItemCollection();
        if (hasReference) {
            items.add(new LegendItem(referenceName + " " + label(referenceY), null, null, null, new Line2D.Double(-14, 0, 14, 0), DASHED, REFERENCE));
        }
        for (Series s : series) {
            Color c = colorOf(s.name(), names.indexOf(s.name()));
            items.add(new LegendItem(s.name(), null, null, null, true, shapeOf(names.indexOf(s.name())), true, c, false, c,
                    new BasicStroke(1f), true, new Line2D.Double(-14, 0, 14, 0), strokeOf(s.name()), c));
        }
        plot.setFixedLegendItems(items);

        JFreeChart chart = new JFreeChart(title, new Font(FONT, Font.BOLD, 19), plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        chart.setPadding(new RectangleInsets(8, 8, 8, 12));
        if (subtitle != null && !subtitle.isEmpty()) {
            TextTitle sub = new TextTitle(subtitle, new Font(FONT, Font.PLAIN, 14));
            sub.setPaint(AXIS);
            chart.addSubtitle(0, sub);
        }
        LegendTitle legend = chart.getLegend();
        legend.setPosition(RectangleEdge.RIGHT);
        legend.setItemFont(new Font(FONT, Font.PLAIN, 15));
        legend.setFrame(BlockBorder.NONE);
        legend.setItemLabelPadding(new RectangleInsets(4, 6, 4, 4));
        legend.setMargin(new RectangleInsets(0, 12, 0, 0));
        return chart;
    }

    private static XYPlot panel(List<Series> series, List<String> names, String yLabel, boolean hasReference, double referenceY, boolean labelled) {
        XYSeriesCollection data = new XYSeriesCollection();
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, true);
        List<Double> ys = new ArrayList<>();
        for (int i = 0; i < series.size(); i++) {
            Series s = series.get(i);
            XYSeries xy = new XYSeries(s.name(), true, false);
            for (double[] p : s.points()) {
                if (Double.isFinite(p[0]) && Double.isFinite(p[1])) {
                    xy.addOrUpdate(p[0], p[1]);
                    ys.add(p[1]);
                }
            }
            data.addSeries(xy);
            int index = names.indexOf(s.name());
            r.setSeriesPaint(i, colorOf(s.name(), index));
            r.setSeriesStroke(i, strokeOf(s.name()));
            r.setSeriesShape(i, shapeOf(index));
        }
        if (labelled) {
            r.setDefaultItemLabelGenerator(new StandardXYItemLabelGenerator("{2}", NumberFormat.getPercentInstance(Locale.ROOT), valueFormat(ys)));
            r.setDefaultItemLabelsVisible(true);
            r.setDefaultItemLabelFont(new Font(FONT, Font.PLAIN, 13));
        }
        if (hasReference) ys.add(referenceY);

        NumberAxis y = new NumberAxis(yLabel);
        Range yr = Range.values(ys, labelled ? 0.3 : 0.08);
        y.setRange(yr.lo(), yr.hi());
        y.setAutoRangeIncludesZero(false);
        styleAxis(y);
        if (labelled) y.setLabelFont(new Font(FONT, Font.PLAIN, 13));

        XYPlot p = new XYPlot(data, null, y, r);
        // In the legend's order, each line over the ones before: a variant ("tokenbutler v2") lies on top of oracle,
        // which it nearly equals, instead of under it.
        p.setSeriesRenderingOrder(org.jfree.chart.plot.SeriesRenderingOrder.FORWARD);
        p.setBackgroundPaint(Color.WHITE);
        p.setDomainGridlinePaint(GRID);
        p.setRangeGridlinePaint(GRID);
        p.setDomainGridlineStroke(new BasicStroke(1f));
        p.setRangeGridlineStroke(new BasicStroke(1f));
        p.setOutlinePaint(AXIS);
        p.setAxisOffset(RectangleInsets.ZERO_INSETS);
        if (hasReference) {
            ValueMarker dense = new ValueMarker(referenceY, REFERENCE, DASHED);
            p.addRangeMarker(dense);
        }
        return p;
    }

    private static void styleAxis(NumberAxis a) {
        a.setLabelFont(new Font(FONT, Font.PLAIN, 16));
        a.setTickLabelFont(new Font(FONT, Font.PLAIN, 14));
        a.setLabelPaint(Color.BLACK);
        a.setTickLabelPaint(AXIS);
        a.setAxisLinePaint(AXIS);
        a.setTickMarkPaint(AXIS);
    }

    /**
     * Oracle, the bound the others approach, is the widest line, so that the lines on it still show it; a variant of
     * a policy ("tokenbutler v2", a name with a space) is dashed, so that where it equals another both stay seen.
     */
    static Stroke strokeOf(String name) {
        if (name.equals("oracle")) return new BasicStroke(4f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND);
        if (name.contains(" ")) return new BasicStroke(2.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, new float[]{9f, 5f}, 0f);
        return new BasicStroke(2.5f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND);
    }

    /** A shape per series, so that lines that lie on each other stay told apart (and for readers who do not see colour). */
    static Shape shapeOf(int index) {
        double s = 9, h = s / 2;
        return switch (Math.floorMod(index, 5)) {
            case 0 -> new Ellipse2D.Double(-h, -h, s, s);
            case 1 -> new Rectangle2D.Double(-h + 0.5, -h + 0.5, s - 1, s - 1);
            case 2 -> polygon(0, -h - 1, h + 1, h, -h - 1, h);                       // triangle up
            case 3 -> polygon(0, -h - 1, h + 1, 0, 0, h + 1, -h - 1, 0);             // diamond
            default -> polygon(-h - 1, -h, h + 1, -h, 0, h + 1);                     // triangle down
        };
    }

    private static Shape polygon(double... xy) {
        Path2D.Double p = new Path2D.Double();
        p.moveTo(xy[0], xy[1]);
        for (int i = 2; i < xy.length; i += 2) p.lineTo(xy[i], xy[i + 1]);
        p.closePath();
        return p;
    }

    /** As many decimals as tell the values apart at their size: 26.0, 7.96, 0.123. */
    private static NumberFormat valueFormat(Collection<Double> values) {
        double max = 0;
        for (double v : values) max = Math.max(max, Math.abs(v));
        String pattern = max >= 100 ? "0" : max >= 10 ? "0.0" : "0.00";
        return new DecimalFormat(pattern, DecimalFormatSymbols.getInstance(Locale.ROOT));
    }

    /** A reference value for the legend: four significant digits. */
    static String label(double v) {
        return new DecimalFormat(Math.abs(v) >= 100 ? "0.0" : Math.abs(v) >= 10 ? "0.00" : "0.000", DecimalFormatSymbols.getInstance(Locale.ROOT)).format(v);
    }

    /** An axis range. */
    record Range(double lo, double hi) {
        /**
         * Target sparsities: the data's span plus a margin, rounded out to 5 %, within 0..100 % (data at 25-75 %
         * gives 20-80 %).
         */
        static Range sparsity(List<Series> series) {
            double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
            for (Series s : series) {
                for (double[] p : s.points()) {
                    if (Double.isFinite(p[0]) && Double.isFinite(p[1])) { lo = Math.min(lo, p[0]); hi = Math.max(hi, p[0]); }
                }
            }
            if (lo > hi) return new Range(0, 1);
            double pad = Math.max(0.02, (hi - lo) * 0.1);
            double from = Math.max(0, Math.floor((lo - pad) / 0.05 + 1e-9) * 0.05);
            double to = Math.min(1, Math.ceil((hi + pad) / 0.05 - 1e-9) * 0.05);
            return new Range(from, to);
        }

        /**
         * Values: their span with a margin on each side (the share given of the span), never below zero for
         * values that are not (perplexities and error rates); a span of one value is widened around it.
         */
        static Range values(List<Double> values, double margin) {
            double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
            for (double v : values) if (Double.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
            if (lo > hi) return new Range(0, 1);
            double pad = hi > lo ? (hi - lo) * margin : (lo == 0 ? 1 : Math.abs(lo) * 0.1);
            double from = lo - pad;
            if (lo >= 0 && from < 0) from = 0;
            return new Range(from, hi + pad);
        }
    }
}
