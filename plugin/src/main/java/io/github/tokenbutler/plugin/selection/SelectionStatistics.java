package io.github.tokenbutler.plugin.selection;

import java.util.ArrayList;
import java.util.List;

/**
 * What a sparse attention did, kept when asked for (option measure=true) and read by the evaluation
 * harness. A "pair" is one causally visible (layer, head, query position, key position) combination.
 * Hit-rate: for each (sparse layer, query head, query position), |selected ∩ O| / |O| where O is the
 * oracle's top-50% set, i.e. the ceil((p+1)/2) keys with the highest true q·k of that head.
 */
public final class SelectionStatistics {
    public long visiblePairsSparseLayers, attendedPairsSparseLayers;
    public long visiblePairsAllLayers, attendedPairsAllLayers;
    public double hitRateSum;
    public long hitRateCount;
    /** With option record=LAYER:HEAD: the selected key positions (ascending) of that head, one row per query position in order. */
    public final List<int[]> recorded = new ArrayList<>();

    /** The (query head, key) pairs causally visible to nTokens query tokens at startPos.. of one layer with nHeads heads. */
    public static long visiblePairs(int nHeads, int startPos, int nTokens) {
        return (long) nHeads * ((long) nTokens * startPos + (long) nTokens * (nTokens + 1) / 2);
    }

    public double effectiveSparsitySparseLayers() {
        return visiblePairsSparseLayers == 0 ? 0 : 1.0 - (double) attendedPairsSparseLayers / visiblePairsSparseLayers;
    }

    public double effectiveSparsityAllLayers() {
        return visiblePairsAllLayers == 0 ? 0 : 1.0 - (double) attendedPairsAllLayers / visiblePairsAllLayers;
    }

    /** NaN when nothing was measured. */
    public double hitRate() { return hitRateCount == 0 ? Double.NaN : hitRateSum / hitRateCount; }

    public void reset() {
        visiblePairsSparseLayers = attendedPairsSparseLayers = visiblePairsAllLayers = attendedPairsAllLayers = 0;
        hitRateSum = 0;
        hitRateCount = 0;
        recorded.clear();
    }
}
