package io.github.tokenbutler.plot;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Locale;

/**
 * Which past tokens one head attended, per query position (the paper's coverage figure): rows are query
 * positions (top to bottom), columns key positions (left to right). Attended pairs are dark, causally
 * visible but skipped pairs light, future pairs white. Optional markers (e.g. the name tokens of a
 * co-reference case) are drawn as red ticks beside the axes.
 */
public final class CoverageImage {
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
        int step = (int) Math.max(1, SparsityPlot.Axis.niceStep(Math.max(1, length / 8.0)));
        for (int p = 0; p < length; p += step) {
            int px = LEFT + p * cell + cell / 2, py = TOP + p * cell + cell / 2;
            fill(img, px, TOP + side + 1, 1, 5, TEXT);
            String label = Integer.toString(p);
            BitmapFont.draw(img, label, px - BitmapFont.width(label, 2) / 2, TOP + side + 9, 2, TEXT);
            fill(img, LEFT - 6, py, 5, 1, TEXT);
            BitmapFont.draw(img, label, LEFT - 10 - BitmapFont.width(label, 2), py - BitmapFont.capHeight(2) / 2, 2, TEXT);
        }
        for (int k : keyMarks) {
            if (k >= 0 && k < length) fill(img, LEFT + k * cell, TOP - 10, Math.max(cell, 2), 8, MARK);
        }
        for (int q : queryMarks) {
            if (q >= 0 && q < length) fill(img, LEFT + side + 3, TOP + q * cell, 8, Math.max(cell, 2), MARK);
        }
        int titleScale = BitmapFont.width(title, 2) <= img.getWidth() - 20 ? 2 : 1;
        BitmapFont.draw(img, title, (img.getWidth() - BitmapFont.width(title, titleScale)) / 2, 14, titleScale, Color.BLACK);
        String xLabel = "key position (past token)";
        BitmapFont.draw(img, xLabel, LEFT + (side - BitmapFont.width(xLabel, 2)) / 2, TOP + side + 34, 2, Color.BLACK);
        String yLabel = "query position (decode step)";
        BitmapFont.drawVertical(img, yLabel, 8, TOP + Math.max(0, (side - BitmapFont.width(yLabel, 2)) / 2), 2, Color.BLACK);

        String summary = String.format(Locale.ROOT, "attended %d of %d visible pairs (%.1f%% skipped)",
                attended, visible, visible == 0 ? 0.0 : 100.0 * (visible - attended) / visible);
        int ly = TOP + side + 64;
        fill(img, LEFT, ly, 14, 14, ATTENDED);
        BitmapFont.draw(img, "attended", LEFT + 20, ly, 2, TEXT);
        int sx = LEFT + 20 + BitmapFont.width("attended", 2) + 24;
        fill(img, sx, ly, 14, 14, SKIPPED);
        BitmapFont.draw(img, "skipped", sx + 20, ly, 2, TEXT);
        int mx = sx + 20 + BitmapFont.width("skipped", 2) + 24;
        if (keyMarks.length + queryMarks.length > 0) {
            fill(img, mx, ly, 14, 14, MARK);
            BitmapFont.draw(img, "marked tokens", mx + 20, ly, 2, TEXT);
        }
        BitmapFont.draw(img, summary, LEFT, ly + 26, BitmapFont.width(summary, 2) <= img.getWidth() - LEFT ? 2 : 1, TEXT);
        return img;
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
