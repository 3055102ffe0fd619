package io.github.tokenbutler.plot;

import io.github.tokenbutler.files.AtomicFiles;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.XYPlot;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.GraphicsEnvironment;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The plot package's parts: the sparsity chart's axes and panels, the coverage image (no model needed). */
class PlotTest {
    /** A README-like run: the policies that matter within 10 % of dense, random 1.2-4x dense. */
    static List<SparsityPlot.Series> series() {
        return List.of(
                new SparsityPlot.Series("oracle", List.of(new double[]{0.25, 6.51}, new double[]{0.5, 6.68}, new double[]{0.75, 7.04})),
                new SparsityPlot.Series("tokenbutler", List.of(new double[]{0.25, 6.52}, new double[]{0.5, 6.71}, new double[]{0.75, 7.12})),
                new SparsityPlot.Series("h2o", List.of(new double[]{0.25, 6.58}, new double[]{0.5, 6.88}, new double[]{0.75, 7.70})),
                new SparsityPlot.Series("random", List.of(new double[]{0.25, 7.96}, new double[]{0.5, 12.48}, new double[]{0.75, 26.02})));
    }

    static JFreeChart chart(Set<String> apart) {
        return SparsityPlot.chart("t", "s", "sparsity", "perplexity", series(), apart, "dense", 6.50);
    }

    @Test
    void rendersHeadlessToAPngOfTheStatedSize() throws Exception {
        assertTrue(GraphicsEnvironment.isHeadless(), "the tests draw without a display, as CI must");
        byte[] png = AtomicFiles.png(SparsityPlot.render("Perplexity", "ctx 512", "sparsity", "perplexity", series(), Set.of("random"), "dense", 6.5));
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(SparsityPlot.WIDTH, img.getWidth());
        assertEquals(SparsityPlot.HEIGHT, img.getHeight());
        for (String p : List.of("oracle", "tokenbutler", "h2o", "random")) {
            assertTrue(hasColor(img, SparsityPlot.colorOf(p, 0).getRGB()), p + "'s colour is drawn");
        }
        assertArrayEquals(png, AtomicFiles.png(SparsityPlot.render("Perplexity", "ctx 512", "sparsity", "perplexity", series(), Set.of("random"), "dense", 6.5)),
                "the same data, the same bytes");
    }

    @Test
    void theXAxisSpansTheDataNotZeroToHundredPercent() {
        var x = ((CombinedDomainXYPlot) chart(Set.of("random")).getXYPlot()).getDomainAxis();
        assertEquals(0.20, x.getLowerBound(), 1e-9);
        assertEquals(0.80, x.getUpperBound(), 1e-9);
        var one = SparsityPlot.Range.sparsity(List.of(new SparsityPlot.Series("a", List.<double[]>of(new double[]{0.5, 1}))));
        assertTrue(one.lo() < 0.5 && one.hi() > 0.5 && one.lo() >= 0.4 && one.hi() <= 0.6, one.toString());
        var ends = SparsityPlot.Range.sparsity(List.of(new SparsityPlot.Series("a", List.of(new double[]{0.01, 1}, new double[]{0.99, 2}))));
        assertEquals(0, ends.lo(), 1e-9);
        assertEquals(1, ends.hi(), 1e-9);
    }

    @Test
    void randomGetsItsOwnPanelAndTheOthersALinearAxisOverTheirValues() {
        List<?> panels = ((CombinedDomainXYPlot) chart(Set.of("random")).getXYPlot()).getSubplots();
        assertEquals(2, panels.size());
        XYPlot main = (XYPlot) panels.get(0), below = (XYPlot) panels.get(1);
        ValueAxis y = main.getRangeAxis();
        assertInstanceOf(org.jfree.chart.axis.NumberAxis.class, y, "linear");
        assertFalse(y instanceof org.jfree.chart.axis.LogAxis);
        assertTrue(y.getLowerBound() < 6.50 && y.getLowerBound() > 6.3, "dense at the bottom: " + y.getRange());
        assertTrue(y.getUpperBound() > 7.70 && y.getUpperBound() < 8.0, "h2o's worst at the top, random not on this axis: " + y.getRange());
        assertEquals(3, main.getDataset().getSeriesCount());
        assertEquals(1, below.getDataset().getSeriesCount());
        assertEquals("random", below.getDataset().getSeriesKey(0));
        assertTrue(below.getRangeAxis().getUpperBound() > 26.02, "random's own axis holds its values: " + below.getRangeAxis().getRange());
        assertEquals(5, chart(Set.of("random")).getXYPlot().getFixedLegendItems().getItemCount(), "dense and the four policies, random included");

        List<?> together = ((CombinedDomainXYPlot) chart(Set.of()).getXYPlot()).getSubplots();
        assertEquals(1, together.size(), "nothing apart: one panel");
        assertTrue(((XYPlot) together.getFirst()).getRangeAxis().getUpperBound() > 26.02);
    }

    @Test
    void valueRangesHaveMarginsAndStayAtOrAboveZeroForPositiveData() {
        var r = SparsityPlot.Range.values(List.of(3.5, 3.9), 0.08);
        assertTrue(r.lo() < 3.5 && r.hi() > 3.9);
        var zero = SparsityPlot.Range.values(List.of(0.0, 10.0), 0.08);
        assertEquals(0, zero.lo(), "an error share is never drawn below 0");
        var flat = SparsityPlot.Range.values(List.of(0.0, 0.0), 0.08);
        assertTrue(flat.hi() > flat.lo());
        assertEquals("6.503", SparsityPlot.label(6.502674));
        assertEquals("26.02", SparsityPlot.label(26.021089));
    }

    @Test
    void anEmptyOrAllApartPlotStillDraws() {
        BufferedImage empty = SparsityPlot.render("t", null, "x", "y", List.of(), Set.of("random"), null, Double.NaN);
        assertEquals(SparsityPlot.WIDTH, empty.getWidth());
        var onlyRandom = SparsityPlot.chart("t", null, "x", "y", List.of(series().getLast()), Set.of("random"), "dense", 6.5);
        assertEquals(1, ((CombinedDomainXYPlot) onlyRandom.getXYPlot()).getSubplots().size(), "random alone is the main panel");
    }

    @Test
    void coverageImageShowsAttendedSkippedAndFuturePairs() throws Exception {
        int n = 6;
        List<int[]> rows = List.of(new int[]{0}, new int[]{0, 1}, new int[]{0, 2}, new int[]{0, 3}, new int[]{0, 4}, new int[]{0, 5});
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(AtomicFiles.png(CoverageImage.render(rows, n, "test", new int[]{1}, new int[]{4}))));
        int cell = CoverageImage.cellSize(n);
        // Locate the matrix through its first cell (query 0, key 0: attended) — the layout constants are private.
        int x0 = -1, y0 = -1;
        outer:
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                if ((img.getRGB(x, y) & 0xFFFFFF) == (CoverageImage.ATTENDED.getRGB() & 0xFFFFFF)) { x0 = x; y0 = y; break outer; }
            }
        }
        assertTrue(x0 >= 0, "an attended cell is drawn");
        int attended = CoverageImage.ATTENDED.getRGB() & 0xFFFFFF, skipped = CoverageImage.SKIPPED.getRGB() & 0xFFFFFF;
        assertEquals(attended, img.getRGB(x0 + 5 * cell, y0 + 5 * cell) & 0xFFFFFF, "query 5 attends key 5");
        assertEquals(skipped, img.getRGB(x0 + 2 * cell, y0 + 5 * cell) & 0xFFFFFF, "query 5 skips key 2");
        assertEquals(0xFFFFFF, img.getRGB(x0 + 5 * cell, y0 + 2 * cell) & 0xFFFFFF, "key 5 is in query 2's future");
        assertTrue(hasColor(img, CoverageImage.TEXT.getRGB()) || textDrawn(img), "labels are drawn");
    }

    @Test
    void coverageRejectsNonCausalSelections() {
        assertThrows(IllegalStateException.class, () -> CoverageImage.render(List.of(new int[]{0, 1}), 1, "t", new int[0], new int[0]));
    }

    /** Anti-aliased text leaves grey pixels left of the matrix, where the query labels are. */
    private static boolean textDrawn(BufferedImage img) {
        for (int y = 0; y < img.getHeight(); y++) for (int x = 0; x < 60; x++) if ((img.getRGB(x, y) & 0xFFFFFF) != 0xFFFFFF) return true;
        return false;
    }

    static boolean hasColor(BufferedImage img, int rgb) {
        for (int y = 0; y < img.getHeight(); y++) for (int x = 0; x < img.getWidth(); x++) if ((img.getRGB(x, y) & 0xFFFFFF) == (rgb & 0xFFFFFF)) return true;
        return false;
    }
}
