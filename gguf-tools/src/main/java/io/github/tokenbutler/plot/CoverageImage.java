package io.github.tokenbutler.plot;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Locale;

/**
 * Which past tokens one head attended, per query position (the paper's coverage figure): rows are query
 * positions (top to bottom), columns key positions (left to right). Attended pairs are dark, causally
 * visible but skipped pairs light, future pairs white. Optional markers (e.g. the name tokens of a
 * co-reference case) are drawn as red ticks beside the axes.
 *
 * <p>A raster of cells, one per (query, key) pair, not a chart: the cells are set pixel by pixel; only the text
 * is drawn with a font (Java's logical sans-serif font, which the JDK maps to a font the machine has).
 */
public final class CoverageImage {
    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private CoverageImage() {}

    static final Color ATTENDED = new Color(33, 64, 154), SKIPPED = new Color(222, 226, 236), FUTURE = Color.WHITE,
            MARK = new Color(214, 39, 40), TEXT = new Color(30, 30, 30);
    private static final int LEFT = 90, TOP = 64, RIGHT = 30, BOTTOM = 120;

    /** Cell size in pixels: about 1024 pixels for the whole matrix, between 1 and 8 per position. */
    static int cellSize(int length) {
        return Math.max(1, Math.min(8, 1024 / Math.max(1, length)));
    }

    /**
     * @param rows       selected key positions per query position (ascending), the last rows.size() positions
     *                   of the sequence (a policy that records every position gives rows.size() == length)
     * @param length     sequence length (positions 0..length-1)
     * @param keyMarks   key positions to mark along the top edge (may be empty)
     * @param queryMarks query positions to mark along the left edge (may be empty)
     */
    public static BufferedImage render(List<int[]> rows, int length, String title, int[] keyMarks, int[] queryMarks) {
        if (rows.size() > length) throw new IllegalArgumentException(rows.size() + " recorded rows for a sequence of " + length + " positions");
        int cell = cellSize(length);
        int side = cell * length;
        int width = LEFT + side + RIGHT, height = TOP + side + BOTTOM;
        BufferedImage img = new BufferedImage(Math.max(width, 640), height, BufferedImage.TYPE_INT_RGB);
        fill(img, 0, 0, img.getWidth(), height, Color.WHITE);

        int firstQuery = length - rows.size();
        long visible = 0, attended = 0;
        for (int q = 0; q < length; q++) {
            // Rows the policy did not record are drawn as skipped-unknown: light, like skipped pairs.
            fill(img, LEFT, TOP + q * cell, (q + 1) * cell, cell, SKIPPED);
            if (q < firstQuery) continue;
            int[] keys = rows.get(q - firstQuery);
            visible += q + 1;
            for (int k : keys) {
                if (k < 0 || k > q) {
                    throw new IllegalStateException("query position " + q + " attended key position " + k + ", outside the causal range 0.." + q);
                }
                fill(img, LEFT + k * cell, TOP + q * cell, cell, cell, ATTENDED);
                attended++;
            }
        }
        // Frame and ticks.
        frame(img, LEFT - 1, TOP - 1, side + 2, side + 2, TEXT);
        int step = (int) Math.max(1, niceStep(Math.max(1, length / 8.0)));
        for (int k : keyMarks) {
            if (k >= 0 && k < length) fill(img, LEFT + k * cell, TOP - 10, Math.max(cell, 2), 8, MARK);
        }
        for (int q : queryMarks) {
            if (q >= 0 && q < length) fill(img, LEFT + side + 3, TOP + q * cell, 8, Math.max(cell, 2), MARK);
        }
        for (int p = 0; p < length; p += step) {
            fill(img, LEFT + p * cell + cell / 2, TOP + side + 1, 1, 5, TEXT);
            fill(img, LEFT - 6, TOP + p * cell + cell / 2, 5, 1, TEXT);
        }
        int ly = TOP + side + 64;
        fill(img, LEFT, ly, 14, 14, ATTENDED);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_FRACTIONALMETRICS, RenderingHints.VALUE_FRACTIONALMETRICS_ON);
            Font small = new Font(Font.SANS_SERIF, Font.PLAIN, 13), normal = new Font(Font.SANS_SERIF, Font.PLAIN, 15);
            g.setColor(TEXT);
            g.setFont(small);
            FontMetrics fm = g.getFontMetrics();
            for (int p = 0; p < length; p += step) {
                String label = Integer.toString(p);
                int px = LEFT + p * cell + cell / 2, py = TOP + p * cell + cell / 2;
                g.drawString(label, px - fm.stringWidth(label) / 2f, TOP + side + 9 + fm.getAscent());
                g.drawString(label, LEFT - 10 - fm.stringWidth(label), py + fm.getAscent() / 2f - 1);
            }
            g.setColor(Color.BLACK);
            Font titleFont = new Font(Font.SANS_SERIF, Font.BOLD, 16);
            g.setFont(titleFont);
            if (g.getFontMetrics().stringWidth(title) > img.getWidth() - 20) g.setFont(titleFont.deriveFont(12f));
            g.drawString(title, (img.getWidth() - g.getFontMetrics().stringWidth(title)) / 2f, 14 + g.getFontMetrics().getAscent());
            g.setFont(normal);
            fm = g.getFontMetrics();
            String xLabel = "key position (past token)";
            g.drawString(xLabel, LEFT + (side - fm.stringWidth(xLabel)) / 2f, TOP + side + 30 + fm.getAscent());
            String yLabel = "query position (decode step)";
            Graphics2D v = (Graphics2D) g.create();
            v.rotate(-Math.PI / 2);
            // rotated: x runs up the image, y to the right
            v.drawString(yLabel, -(TOP + Math.max(fm.stringWidth(yLabel), (side + fm.stringWidth(yLabel)) / 2f)), 8 + fm.getAscent());
            v.dispose();

            g.setColor(TEXT);
            float textY = ly + 7 + fm.getAscent() / 2f - 1;
            g.drawString("attended", LEFT + 20, textY);
            int sx = LEFT + 20 + fm.stringWidth("attended") + 24;
            fill(img, sx, ly, 14, 14, SKIPPED);
            g.drawString("skipped", sx + 20, textY);
            int mx = sx + 20 + fm.stringWidth("skipped") + 24;
            if (keyMarks.length + queryMarks.length > 0) {
                fill(img, mx, ly, 14, 14, MARK);
                g.drawString("marked tokens", mx + 20, textY);
            }
            String summary = String.format(Locale.ROOT, "attended %d of %d visible pairs (%.1f%% skipped)",
                    attended, visible, visible == 0 ? 0.0 : 100.0 * (visible - attended) / visible);
            if (fm.stringWidth(summary) > img.getWidth() - LEFT) g.setFont(small);
            g.drawString(summary, LEFT, ly + 26 + g.getFontMetrics().getAscent());
        } finally {
            g.dispose();
        }
        return img;
    }

    /** A round step (1, 2, 2.5, 5 times a power of ten) at least raw. */
    static double niceStep(double raw) {
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        double f = raw / p;
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
    }

    private static void fill(BufferedImage img, int x, int y, int w, int h, Color c) {
        int rgb = c.getRGB();
        for (int yy = Math.max(0, y); yy < Math.min(img.getHeight(), y + h); yy++) {
            for (int xx = Math.max(0, x); xx < Math.min(img.getWidth(), x + w); xx++) img.setRGB(xx, yy, rgb);
        }
    }

    private static void frame(BufferedImage img, int x, int y, int w, int h, Color c) {
        fill(img, x, y, w, 1, c);
        fill(img, x, y + h - 1, w, 1, c);
        fill(img, x, y, 1, h, c);
        fill(img, x + w - 1, y, 1, h, c);
    }
}
