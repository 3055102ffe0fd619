package io.github.tokenbutler.eval;

import io.github.tokenbutler.plugin.selection.SelectionStatistics;

/**
 * What a policy actually did, from the plugin's {@link SelectionStatistics} (docs/EVALUATION.md, "Metrics"):
 * effective sparsity over the sparse layers (1..L-1) and over all layers (layer 0 always dense), and the
 * hit-rate against the oracle's top-50% set.
 */
public record SelectionSummary(double effectiveSparsitySparseLayers, double effectiveSparsityAllLayers, double hitRate) {
    /** Dense attends every visible pair, so it keeps the oracle's whole set. */
    public static final SelectionSummary DENSE = new SelectionSummary(0, 0, 1);

    /** A policy that keeps no statistics: nothing is known. */
    public static final SelectionSummary UNMEASURED = new SelectionSummary(Double.NaN, Double.NaN, Double.NaN);

    public static SelectionSummary of(SelectionStatistics s) {
        if (s == null) return UNMEASURED;
        double sparse = s.visiblePairsSparseLayers == 0 ? Double.NaN : s.effectiveSparsitySparseLayers();
        double all = s.visiblePairsAllLayers == 0 ? Double.NaN : s.effectiveSparsityAllLayers();
        return new SelectionSummary(sparse, all, s.hitRate());
    }
}
