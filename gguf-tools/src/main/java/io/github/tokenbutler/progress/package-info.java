/**
 * Progress of a long command ({@link io.github.tokenbutler.progress.ProgressBar}): eval, coref, train, bench,
 * synth, quantize and the converters tell it how much of their work is done; it draws one bar on stderr when
 * stderr is a terminal (share, count, rate, time left, rewritten in place) and otherwise writes a few plain
 * lines or none, so that CI logs hold the commands' own lines.
 *
 * <p>In: counts of units done (chunks, cases, steps, bytes) and an optional status text. Out: text on a
 * {@code PrintStream}; nothing else.
 */
package io.github.tokenbutler.progress;
