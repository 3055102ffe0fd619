package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.ModelConfig;

/**
 * What a policy's {@link Ranking} is made from.
 * @param predicted      the predictor's logits (tokenbutler), else null
 * @param seed           the random policy's seed
 * @param recentFraction H2O's share of its slots kept for the most recent tokens
 * @param pageSize       Quest's page length in tokens
 */
public record SelectionSettings(ModelConfig config, BudgetRule budget, boolean perKvHead, PredictedScores predicted,
                                long seed, double recentFraction, int pageSize) {
    public SelectionUnits units() { return SelectionUnits.of(config, perKvHead); }
}
