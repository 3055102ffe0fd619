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
 * <p><b>Out:</b> the selected key positions, ascending, and what the selection did
 * ({@link io.github.tokenbutler.plugin.selection.SelectionStatistics}; with measure=true the hit-rate of each
 * selection against the true logits' top half, {@link io.github.tokenbutler.plugin.selection.HitRate}).
 *
 * <p>One class per policy behind one interface, {@link io.github.tokenbutler.plugin.selection.Ranking}, each owning
 * its per-sequence state and made by {@link io.github.tokenbutler.plugin.selection.SelectionPolicy#open}: the ranking
 * policies share the budget rule and a top-k ({@link io.github.tokenbutler.plugin.selection.TopKSelection}); H2O keeps
 * its own set. {@link io.github.tokenbutler.plugin.selection.TokenSelector} holds a policy's ranking with the
 * geometry of the selection units (query heads, or KV heads with gqa=kv).
 */
package io.github.tokenbutler.plugin.selection;
