package io.github.tokenbutler.plot;

import io.github.tokenbutler.files.AtomicFiles;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The plot package's parts: axes, the coverage image, the bitmap font (no model needed). */
class PlotTest {
    @Test
    void axisTurnsLogarithmicForWideRanges() {
        var wide = SparsityPlot.Axis.forValues(List.of(3.5, 40.0));
        assertTrue(wide.log());
        assertFalse(wide.ticks().isEmpty());
        var narrow = SparsityPlot.Axis.forValues(List.of(3.5, 3.9));
        assertFalse(narrow.log());
        assertTrue(narrow.ticks().size() >= 3, narrow.ticks().toString());
        for (double t : narrow.ticks()) assertTrue(t >= narrow.min() && t <= narrow.max());
        var zeros = SparsityPlot.Axis.forValues(List.of(0.0, 0.0));
        assertTrue(zeros.max() > zeros.min());
        assertEquals("3.5", SparsityPlot.Axis.label(3.5));
        assertEquals("20", SparsityPlot.Axis.label(20.0));
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
    }

    @Test
    void coverageRejectsNonCausalSelections() {
        assertThrows(IllegalStateException.class, () -> CoverageImage.render(List.of(new int[]{0, 1}), 1, "t", new int[0], new int[0]));
    }

    @Test
    void bitmapFontDrawsEveryPrintableCharacter() {
        char[] all = new char[95];
        for (int i = 0; i < 95; i++) all[i] = (char) (32 + i);
        String s = new String(all);
        BufferedImage img = new BufferedImage(BitmapFont.width(s, 1) + 2, 9, BufferedImage.TYPE_INT_RGB);
        BitmapFont.draw(img, s, 1, 1, 1, java.awt.Color.WHITE);
        BitmapFont.drawVertical(img, "ab", 0, 0, 1, java.awt.Color.WHITE);
        long lit = Arrays.stream(img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth())).filter(p -> (p & 0xFFFFFF) != 0).count();
        assertTrue(lit > 500, "glyphs are drawn: " + lit);
    }
}
