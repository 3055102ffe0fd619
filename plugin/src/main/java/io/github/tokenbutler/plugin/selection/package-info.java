/**
 * Which past tokens each sparse head attends to.
 *
 * <p><b>In:</b> a query position p, the {@link io.github.tokenbutler.plugin.selection.BudgetRule} (how many tokens,
 * which are mandatory) and the policy's evidence: the predictor's logits
 * ({@link io.github.tokenbutler.plugin.selection.PredictedScores}), true q·k (oracle), page key bounds
 * ({@link io.github.tokenbutler.plugin.selection.QuestPages}), accumulated attention
 * ({@link io.github.tokenbutler.plugin.selection.HeavyHitterCache}), seeded hashes
 * ({@link io.github.tokenbutler.plugin.selection.RandomScores}) or recency (streaming).
 *
 * <p><b>Out:</b> the selected key positions, ascending
 * ({@link io.github.tokenbutler.plugin.selection.TokenSelector}, ranking with
 * {@link io.github.tokenbutler.plugin.selection.TopKSelection}), and what the selection did
 * ({@link io.github.tokenbutler.plugin.selection.SelectionStatistics}).
 */
package io.github.tokenbutler.plugin.selection;
