package io.github.tokenbutler.plugin.selection;

/**
 * The token-selection policies, one attention hook each. They share the budget rule ({@link BudgetRule}) and
 * differ only in how they rank the past tokens that are not kept unconditionally.
 */
public enum SelectionPolicy {
    TOKENBUTLER("tokenbutler", "TokenButler: top-k by the learned predictor's logits (option predictor=PATH)"),
    ORACLE("oracle", "top-k by the true q·k of each head (the quality ceiling of token-level selection)"),
    STREAMING("streaming", "StreamingLLM: attention sinks plus the most recent tokens"),
    H2O("h2o", "H2O: heavy hitters by accumulated attention plus recent tokens; evicted tokens never return"),
    QUEST("quest", "Quest: pages of 16 tokens ranked by a per-channel min/max bound on q·k"),
    RANDOM("random", "uniformly random past tokens, seeded (the sanity floor)");

    /** The hook name used with --attention. */
    public final String hookName;
    public final String description;

    SelectionPolicy(String hookName, String description) {
        this.hookName = hookName;
        this.description = description;
    }
}
