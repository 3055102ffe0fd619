/**
 * The evaluation harness: measures what sparse attention policies cost in quality.
 *
 * <p>Two measurements, both under teacher forcing, both run one policy at a time on one loaded model:
 * <ul>
 *   <li>perplexity ({@code ./tokenbutler eval}): the text is cut into BOS-prefixed chunks
 *       ({@link io.github.tokenbutler.corpus.TokenChunks}); every position of a chunk is a decode step under the
 *       policy ({@link io.github.tokenbutler.eval.PolicySession}); the negative log-likelihood of each next token
 *       is summed ({@link io.github.tokenbutler.eval.NextTokenLoss});</li>
 *   <li>co-referential retrieval ({@code ./tokenbutler coref}): an invented name, distractor text, then a
 *       sentence whose continuation is the name ({@link io.github.tokenbutler.eval.CorefCaseGenerator}); the
 *       score is the share of the name's tokens the model mispredicts ({@link io.github.tokenbutler.eval.CorefScore}).</li>
 * </ul>
 * Results go to a text table, a CSV file and PNG figures ({@link io.github.tokenbutler.plot.SparsityPlot},
 * {@link io.github.tokenbutler.plot.CoverageImage}), written whole or not at all by {@code files.AtomicFiles}.
 * The protocol and every metric are defined in docs/EVALUATION.md.
 */
package io.github.tokenbutler.eval;
