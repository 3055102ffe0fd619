package io.github.tokenbutler.plugin.selection;

/**
 * How many tokens a sparse head keeps at query position p, and which of them are kept whatever the policy
 * says. The same rule for every policy, so that policies are compared at equal cost.
 *
 * <p>At position p, p+1 tokens are visible. The budget is K(p) = ceil((p+1)(1-s)) for sparsity s, or
 * min(budget, p+1) with a fixed budget. Always kept ("mandatory"): the first {@code sinks} positions, the
 * {@code window} positions just before p, and p itself. The policy fills the remaining K(p) - |mandatory|
 * slots from the positions in between (the "candidates"). When the mandatory tokens alone exceed K(p)
 * (short prefixes) they are all kept anyway: a head never drops its sinks or the current token, so the
 * attended count is max(K(p), |mandatory|) and the statistics report it as it is.
 *
 * @param sparsity fraction of the visible tokens skipped, 0..1 (ignored when budget > 0)
 * @param budget   fixed number of kept tokens, or 0 to use sparsity
 * @param sinks    leading positions always kept (attention sinks)
 * @param window   positions just before the current one always kept
 */
public record BudgetRule(double sparsity, int budget, int sinks, int window) {
    // ceil() of a product of a decimal fraction: 0.9 is not exact in binary, and 10 * (1 - 0.1) must give 9,
    // not 10. Far below one token for any context a float index can address.
    private static final double CEIL_TOLERANCE = 1e-9;

    public BudgetRule {
        if (!(sparsity >= 0 && sparsity <= 1)) throw new IllegalArgumentException("sparsity must be in 0..1, got " + sparsity);
        if (budget < 0 || sinks < 0 || window < 0) {
            throw new IllegalArgumentException("budget, sinks and window must not be negative: " + budget + ", " + sinks + ", " + window);
        }
    }

    /** K(p): the number of tokens to keep at position p, between 0 and p+1 (before the mandatory tokens are counted). */
    public int keep(int p) {
        long visible = (long) p + 1;
        long k = budget > 0 ? Math.min(budget, visible) : (long) Math.ceil(visible * (1.0 - sparsity) - CEIL_TOLERANCE);
        return (int) Math.max(0, Math.min(k, visible));
    }

    /** End (exclusive) of the sink positions at p: positions 0..sinkEnd-1 are always kept. */
    public int sinkEnd(int p) { return Math.min(sinks, p + 1); }

    /** Start of the always-kept recent positions at p: recentStart..p (window before p, and p). Never below sinkEnd. */
    public int recentStart(int p) { return Math.max(sinkEnd(p), p - window); }

    /** Number of mandatory positions at p (sinks, window and the current token). */
    public int mandatory(int p) { return sinkEnd(p) + (p + 1 - recentStart(p)); }

    /** Slots the policy fills at p from the candidates sinkEnd..recentStart-1 (0 when the mandatory ones use the budget up). */
    public int policySlots(int p) { return Math.max(0, keep(p) - mandatory(p)); }
}
