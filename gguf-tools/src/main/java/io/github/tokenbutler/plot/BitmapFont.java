package io.github.tokenbutler.plot;

import java.awt.Color;
import java.awt.image.BufferedImage;

/**
 * A 5×7 pixel font (with descenders) for the figures' labels, drawn pixel by pixel. The figures use it instead of java.awt
 * fonts because a headless machine may have no fonts installed (text rendering then fails), and because
 * system fonts differ between machines, which would make the PNG files differ; with this font the same
 * results give the same bytes everywhere. Printable ASCII only; other characters are drawn as '?'.
 */
public final class BitmapFont {
    private BitmapFont() {}

    /** Glyphs are 5 wide; 7 rows above the baseline plus 2 below it for the descenders of g, j, p, q, y. */
    static final int GLYPH_WIDTH = 5, GLYPH_HEIGHT = 9;
    private static final int[][] GLYPHS = new int[95][];

    /** A glyph of 7 rows (nothing below the baseline) or 9 rows (with a descender). */
    private static void g(char c, String rows) {
        String[] r = rows.split(" ");
        if (r.length != 7 && r.length != GLYPH_HEIGHT) throw new IllegalStateException("glyph '" + c + "' has " + r.length + " rows");
        int[] bits = new int[GLYPH_HEIGHT];
        for (int y = 0; y < r.length; y++) bits[y] = Integer.parseInt(r[y], 2);
        GLYPHS[c - 32] = bits;
    }

    static {
        g(' ', "00000 00000 00000 00000 00000 00000 00000");
        g('!', "00100 00100 00100 00100 00100 00000 00100");
        g('"', "01010 01010 01010 00000 00000 00000 00000");
        g('#', "01010 01010 11111 01010 11111 01010 01010");
        g('$', "00100 01111 10100 01110 00101 11110 00100");
        g('%', "11000 11001 00010 00100 01000 10011 00011");
        g('&', "01100 10010 10100 01000 10101 10010 01101");
        g('\'', "01100 00100 01000 00000 00000 00000 00000");
        g('(', "00010 00100 01000 01000 01000 00100 00010");
        g(')', "01000 00100 00010 00010 00010 00100 01000");
        g('*', "00000 00100 10101 01110 10101 00100 00000");
        g('+', "00000 00100 00100 11111 00100 00100 00000");
        g(',', "00000 00000 00000 00000 01100 00100 01000");
        g('-', "00000 00000 00000 11111 00000 00000 00000");
        g('.', "00000 00000 00000 00000 00000 01100 01100");
        g('/', "00000 00001 00010 00100 01000 10000 00000");
        g('0', "01110 10001 10011 10101 11001 10001 01110");
        g('1', "00100 01100 00100 00100 00100 00100 01110");
        g('2', "01110 10001 00001 00010 00100 01000 11111");
        g('3', "11111 00010 00100 00010 00001 10001 01110");
        g('4', "00010 00110 01010 10010 11111 00010 00010");
        g('5', "11111 10000 11110 00001 00001 10001 01110");
        g('6', "00110 01000 10000 11110 10001 10001 01110");
        g('7', "11111 00001 00010 00100 01000 01000 01000");
        g('8', "01110 10001 10001 01110 10001 10001 01110");
        g('9', "01110 10001 10001 01111 00001 00010 01100");
        g(':', "00000 01100 01100 00000 01100 01100 00000");
        g(';', "00000 01100 01100 00000 01100 00100 01000");
        g('<', "00010 00100 01000 10000 01000 00100 00010");
        g('=', "00000 00000 11111 00000 11111 00000 00000");
        g('>', "01000 00100 00010 00001 00010 00100 01000");
        g('?', "01110 10001 00001 00010 00100 00000 00100");
        g('@', "01110 10001 00001 01101 10101 10101 01110");
        g('A', "01110 10001 10001 10001 11111 10001 10001");
        g('B', "11110 10001 10001 11110 10001 10001 11110");
        g('C', "01110 10001 10000 10000 10000 10001 01110");
        g('D', "11100 10010 10001 10001 10001 10010 11100");
        g('E', "11111 10000 10000 11110 10000 10000 11111");
        g('F', "11111 10000 10000 11110 10000 10000 10000");
        g('G', "01110 10001 10000 10111 10001 10001 01111");
        g('H', "10001 10001 10001 11111 10001 10001 10001");
        g('I', "01110 00100 00100 00100 00100 00100 01110");
        g('J', "00111 00010 00010 00010 00010 10010 01100");
        g('K', "10001 10010 10100 11000 10100 10010 10001");
        g('L', "10000 10000 10000 10000 10000 10000 11111");
        g('M', "10001 11011 10101 10101 10001 10001 10001");
        g('N', "10001 10001 11001 10101 10011 10001 10001");
        g('O', "01110 10001 10001 10001 10001 10001 01110");
        g('P', "11110 10001 10001 11110 10000 10000 10000");
        g('Q', "01110 10001 10001 10001 10101 10010 01101");
        g('R', "11110 10001 10001 11110 10100 10010 10001");
        g('S', "01111 10000 10000 01110 00001 00001 11110");
        g('T', "11111 00100 00100 00100 00100 00100 00100");
        g('U', "10001 10001 10001 10001 10001 10001 01110");
        g('V', "10001 10001 10001 10001 10001 01010 00100");
        g('W', "10001 10001 10001 10101 10101 10101 01010");
        g('X', "10001 10001 01010 00100 01010 10001 10001");
        g('Y', "10001 10001 10001 01010 00100 00100 00100");
        g('Z', "11111 00001 00010 00100 01000 10000 11111");
        g('[', "01110 01000 01000 01000 01000 01000 01110");
        g('\\', "00000 10000 01000 00100 00010 00001 00000");
        g(']', "01110 00010 00010 00010 00010 00010 01110");
        g('^', "00100 01010 10001 00000 00000 00000 00000");
        g('_', "00000 00000 00000 00000 00000 00000 11111");
        g('`', "01000 00100 00010 00000 00000 00000 00000");
        g('a', "00000 00000 01110 00001 01111 10001 01111");
        g('b', "10000 10000 10110 11001 10001 10001 11110");
        g('c', "00000 00000 01110 10000 10000 10001 01110");
        g('d', "00001 00001 01101 10011 10001 10001 01111");
        g('e', "00000 00000 01110 10001 11111 10000 01110");
        g('f', "00110 01001 01000 11100 01000 01000 01000");
        g('g', "00000 00000 01111 10001 10001 10001 01111 00001 01110");
        g('h', "10000 10000 10110 11001 10001 10001 10001");
        g('i', "00100 00000 01100 00100 00100 00100 01110");
        g('j', "00010 00000 00110 00010 00010 00010 00010 10010 01100");
        g('k', "10000 10000 10010 10100 11000 10100 10010");
        g('l', "01100 00100 00100 00100 00100 00100 01110");
        g('m', "00000 00000 11010 10101 10101 10001 10001");
        g('n', "00000 00000 10110 11001 10001 10001 10001");
        g('o', "00000 00000 01110 10001 10001 10001 01110");
        g('p', "00000 00000 11110 10001 10001 10001 11110 10000 10000");
        g('q', "00000 00000 01111 10001 10001 10001 01111 00001 00001");
        g('r', "00000 00000 10110 11001 10000 10000 10000");
        g('s', "00000 00000 01110 10000 01110 00001 11110");
        g('t', "01000 01000 11100 01000 01000 01001 00110");
        g('u', "00000 00000 10001 10001 10001 10011 01101");
        g('v', "00000 00000 10001 10001 10001 01010 00100");
        g('w', "00000 00000 10001 10001 10101 10101 01010");
        g('x', "00000 00000 10001 01010 00100 01010 10001");
        g('y', "00000 00000 10001 10001 10001 10001 01111 00001 01110");
        g('z', "00000 00000 11111 00010 00100 01000 11111");
        g('{', "00010 00100 00100 01000 00100 00100 00010");
        g('|', "00100 00100 00100 00100 00100 00100 00100");
        g('}', "01000 00100 00100 00010 00100 00100 01000");
        g('~', "00000 00000 01000 10101 00010 00000 00000");
        for (int i = 0; i < GLYPHS.length; i++) {
            if (GLYPHS[i] == null) throw new IllegalStateException("missing glyph for '" + (char) (i + 32) + "'");
        }
    }

    /** Width in pixels of a string at a scale (one blank column between glyphs). */
    public static int width(String s, int scale) {
        return s.isEmpty() ? 0 : (s.length() * (GLYPH_WIDTH + 1) - 1) * scale;
    }

    /** Full line height, descenders included. */
    public static int height(int scale) { return GLYPH_HEIGHT * scale; }

    /** Height above the baseline (digits, capitals): what to center on a tick. */
    public static int capHeight(int scale) { return 7 * scale; }

    /** Draws text with its top-left corner at (x, y). Pixels outside the image are skipped. */
    public static void draw(BufferedImage img, String s, int x, int y, int scale, Color color) {
        int rgb = color.getRGB();
        for (int i = 0; i < s.length(); i++) {
            int[] glyph = glyph(s.charAt(i));
            int gx = x + i * (GLYPH_WIDTH + 1) * scale;
            for (int row = 0; row < GLYPH_HEIGHT; row++) {
                for (int col = 0; col < GLYPH_WIDTH; col++) {
                    if ((glyph[row] >> (GLYPH_WIDTH - 1 - col) & 1) == 0) continue;
                    fill(img, gx + col * scale, y + row * scale, scale, scale, rgb);
                }
            }
        }
    }

    /** Draws text rotated 90° counter-clockwise (reading bottom to top), its bounding box's top-left at (x, y). */
    public static void drawVertical(BufferedImage img, String s, int x, int y, int scale, Color color) {
        int rgb = color.getRGB();
        int len = width(s, scale);
        for (int i = 0; i < s.length(); i++) {
            int[] glyph = glyph(s.charAt(i));
            int gx = i * (GLYPH_WIDTH + 1) * scale;
            for (int row = 0; row < GLYPH_HEIGHT; row++) {
                for (int col = 0; col < GLYPH_WIDTH; col++) {
                    if ((glyph[row] >> (GLYPH_WIDTH - 1 - col) & 1) == 0) continue;
                    // Horizontal pixel (u, v) maps to (v, len-1-u) when turned counter-clockwise.
                    int u = gx + col * scale, v = row * scale;
                    fill(img, x + v, y + len - u - scale, scale, scale, rgb);
                }
            }
        }
    }

    private static int[] glyph(char c) {
        return c >= 32 && c < 127 ? GLYPHS[c - 32] : GLYPHS['?' - 32];
    }

    private static void fill(BufferedImage img, int x, int y, int w, int h, int rgb) {
        for (int yy = Math.max(0, y); yy < Math.min(img.getHeight(), y + h); yy++) {
            for (int xx = Math.max(0, x); xx < Math.min(img.getWidth(), x + w); xx++) img.setRGB(xx, yy, rgb);
        }
    }
}
