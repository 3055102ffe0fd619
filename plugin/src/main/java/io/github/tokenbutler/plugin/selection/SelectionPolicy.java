package io.github.tokenbutler.plugin.selection;

import java.util.function.Function;

/**
 * The token-selection policies by name, one attention hook each, and the class that implements each one (a
 * {@link Ranking}). They share the budget rule ({@link BudgetRule}) and differ only in how they rank the past
 * tokens that are not kept unconditionally.
 */
public enum SelectionPolicy {
    TOKENBUTLER("tokenbutler", "TokenButler: top-k by the learned predictor's logits (option predictor=PATH)", TokenButlerRanking::new),
    ORACLE("oracle", "top-k by the true q·k of each head (the quality ceiling of token-level selection)", OracleRanking::new),
    STREAMING("streaming", "StreamingLLM: attention sinks plus the most recent tokens", StreamingRanking::new),
    H2O("h2o", "H2O: heavy hitters by accumulated attention plus recent tokens; evicted tokens never return", HeavyHitterRanking::new),
    QUEST("quest", "Quest: pages of 16 tokens ranked by a per-channel min/max bound on q·k", QuestRanking::new),
    RANDOM("random", "uniformly random past tokens, seeded (the sanity floor)", RandomRanking::new);

    /** The hook name used with --attention. */
    public final String hookName;
    public final String description;
    private final Function<SelectionSettings, Ranking> factory;

    SelectionPolicy(String hookName, String description, Function<SelectionSettings, Ranking> factory) {
        this.hookName = hookName;
        this.description = description;
        this.factory = factory;
    }

    /** This policy for one model state, with its own per-sequence state. */
    public Ranking open(SelectionSettings settings) { return factory.apply(settings); }
}
