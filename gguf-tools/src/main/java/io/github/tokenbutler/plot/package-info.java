/**
 * Figures drawn into images: a metric against sparsity per policy ({@link io.github.tokenbutler.plot.SparsityPlot},
 * eval's and coref's --plot, and the plot command) and which past tokens a head attended
 * ({@link io.github.tokenbutler.plot.CoverageImage}, --viz).
 *
 * <p>In: series of (sparsity, value) points per policy, or per query position the attended key positions. Out: a
 * {@code BufferedImage}, drawn headless (no display needed), the same pixels for the same data and fonts
 * (written as PNG by {@code files.AtomicFiles}).
 *
 * <p>Why JFreeChart for the sparsity plot: the hand-drawn chart it replaced (with its own 5×7 bitmap font) had to
 * place every tick, label and legend entry itself, and got a log axis, a 0-100 % x axis and colliding labels
 * out of it. JFreeChart (org.jfree:jfreechart, LGPL, kept up since 2000) picks tick units that fit, lays out
 * the legend and titles, and has combined plots that share an x axis, which is how random, far above the other
 * policies, gets its own panel while the others keep a linear axis over their few percent; it is one jar with
 * no dependencies of its own. XChart was the other candidate: its jar brings vector-graphics, PDF and GIF
 * libraries along and it has no panels sharing an axis. The coverage image is a raster of (query, key) cells,
 * not a chart: it stays pixels set by hand, its text drawn with Java's logical sans-serif font, so the bitmap
 * font is gone. Fonts come from the machine (the JDK maps sans-serif to, on Debian, DejaVu Sans): tests check
 * sizes, colours and layout, never pixels of text.
 */
package io.github.tokenbutler.plot;
