/**
 * Figures drawn with java.awt into images: perplexity against sparsity ({@link io.github.tokenbutler.plot.SparsityPlot})
 * and which past tokens a head attended ({@link io.github.tokenbutler.plot.CoverageImage}), with a small bitmap font
 * ({@link io.github.tokenbutler.plot.BitmapFont}) so that the pixels do not depend on the fonts a machine has.
 *
 * <p>In: series of (x, y) points per policy, or per query position the attended key positions. Out: a
 * {@code BufferedImage}, the same pixels for the same data (written as PNG by {@code files.AtomicFiles}).
 */
package io.github.tokenbutler.plot;
