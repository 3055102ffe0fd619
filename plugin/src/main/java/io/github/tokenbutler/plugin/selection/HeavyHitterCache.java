package io.github.tokenbutler.plugin.selection;

import java.util.Arrays;

/**
 * H2O's state (Zhang et al., 2023, "Heavy-Hitter Oracle"): per (layer, unit) the set of positions still kept,
 * and per position the attention it has received so far, summed over the query steps that attended it (and,
 * with one selection per KV head, over the heads of the group).
 *
 * <p>At each position p: p joins the kept set; while the set holds more than K(p) positions, the kept position
 * with the least accumulated attention that is neither a sink nor in the protected recent run is evicted, for
 * good. The protected recent run is the budget rule's window plus H2O's own recent share: a fraction
 * {@code recentFraction} of the policy's slots (H2O splits its cache evenly between heavy hitters and recent
 * tokens, so 0.5 by default). Eviction happens before the step's attention, so the head attends exactly the
 * budget; the step's attention weights are added afterwards ({@link #accumulate}). Ties in accumulated
 * attention evict the later position (ties keep the earlier one, as everywhere in the selection).
 *
 * <p>The budget grows with p (K(p) rises by at most one per step), so at most one eviction per step in steady
 * state. Units are independent, so different units may be stepped from different threads; one unit's steps
 * must come in position order.
 */
public final class HeavyHitterCache {
    private final BudgetRule budget;
    private final double recentFraction;
    private final int units;
    private final int[][] kept;
    private final float[][] accumulated;
    private final int[] keptCount, nextPosition;

    public HeavyHitterCache(int nLayers, int units, BudgetRule budget, double recentFraction) {
        if (!(recentFraction >= 0 && recentFraction <= 1)) throw new IllegalArgumentException("recent fraction must be in 0..1, got " + recentFraction);
        this.budget = budget;
        this.recentFraction = recentFraction;
        this.units = units;
        int slots = nLayers * units;
        this.kept = new int[slots][0];
        this.accumulated = new float[slots][0];
        this.keptCount = new int[slots];
        this.nextPosition = new int[slots];
    }

    /** A new sequence: nothing kept. */
    public void reset() {
        Arrays.fill(keptCount, 0);
        Arrays.fill(nextPosition, 0);
    }

    /** First position of the run that is never evicted at p: the window, H2O's recent share, and p itself. */
    public int protectedStart(int p) {
        int recent = (int) Math.floor(recentFraction * budget.policySlots(p));
        return Math.max(budget.sinkEnd(p), budget.recentStart(p) - recent);
    }

    /**
     * Position p arrives for (layer, unit): evicts down to the budget and writes the kept positions, ascending,
     * to out.
     * @return the number of kept positions
     */
    public int step(int layer, int unit, int p, int[] out) {
        int slot = layer * units + unit;
        if (p != nextPosition[slot]) {
            throw new IllegalStateException("h2o: layer " + layer + " unit " + unit + " expected position " + nextPosition[slot]
                    + " next but got " + p + "; evictions are permanent, so positions must arrive in order (a new sequence starts at 0)");
        }
        ensureCapacity(slot, p + 1);
        int[] k = kept[slot];
        float[] acc = accumulated[slot];
        int n = keptCount[slot];
        k[n++] = p;
        acc[p] = 0f;
        int keep = budget.keep(p);
        if (n > keep) {
            // Sinks are never evicted, so the evictable run is k[a..b): kept positions in sinkEnd..protectedStart-1.
            int a = lowerBound(k, 0, n, budget.sinkEnd(p));
            int b = lowerBound(k, a, n, protectedStart(p));
            while (n > keep && b > a) {
                int victim = a;
                float least = acc[k[a]];
                for (int j = a + 1; j < b; j++) {
                    float v = acc[k[j]];
                    if (v <= least) { least = v; victim = j; }
                }
                System.arraycopy(k, victim + 1, k, victim, n - victim - 1);
                n--;
                b--;
            }
        }
        keptCount[slot] = n;
        nextPosition[slot] = p + 1;
        System.arraycopy(k, 0, out, 0, n);
        return n;
    }

    /** Adds one head's attention weights weights[wOff + j] of positions[j], j < count, to (layer, unit). */
    public void accumulate(int layer, int unit, int[] positions, float[] weights, int wOff, int count) {
        float[] acc = accumulated[layer * units + unit];
        for (int j = 0; j < count; j++) acc[positions[j]] += weights[wOff + j];
    }

    /** The attention accumulated so far by position t of (layer, unit); for tests and inspection. */
    public float accumulated(int layer, int unit, int t) { return accumulated[layer * units + unit][t]; }

    /** The kept positions of (layer, unit), ascending. */
    public int[] kept(int layer, int unit) {
        int slot = layer * units + unit;
        return Arrays.copyOf(kept[slot], keptCount[slot]);
    }

    /**
     * Benchmarks: the state after n positions with synthetic accumulated attention (exponentially distributed,
     * seeded): the kept set is what the budget allows at position n-1, heavy hitters by those scores.
     */
    public void syntheticFill(int fromLayer, int toLayer, int n, long seed, TopKSelection topK) {
        for (int layer = fromLayer; layer < toLayer; layer++) {
            for (int unit = 0; unit < units; unit++) {
                int slot = layer * units + unit;
                keptCount[slot] = 0;
                nextPosition[slot] = n;
                if (n == 0) continue;
                ensureCapacity(slot, n);
                float[] acc = accumulated[slot];
                RandomScores.fill(seed, layer, unit, n, 0, n, acc);
                for (int t = 0; t < n; t++) acc[t] = (float) -Math.log1p(-acc[t]);
                int p = n - 1, sinkEnd = budget.sinkEnd(p), protectedFrom = protectedStart(p);
                int heavy = Math.max(0, budget.keep(p) - sinkEnd - (n - protectedFrom));
                int[] k = kept[slot];
                int c = 0;
                for (int t = 0; t < sinkEnd; t++) k[c++] = t;
                topK.ensureCapacity(protectedFrom - sinkEnd);
                c += topK.select(acc, sinkEnd, protectedFrom, heavy, k, c);
                for (int t = protectedFrom; t < n; t++) k[c++] = t;
                keptCount[slot] = c;
            }
        }
    }

    private void ensureCapacity(int slot, int positions) {
        if (kept[slot].length < positions) {
            int size = Math.max(positions, Math.min(2 * kept[slot].length, Integer.MAX_VALUE - 8));
            kept[slot] = Arrays.copyOf(kept[slot], size);
            accumulated[slot] = Arrays.copyOf(accumulated[slot], size);
        }
    }

    /** First index in a[from..to) (ascending) holding a value ≥ key, or to. */
    private static int lowerBound(int[] a, int from, int to, int key) {
        int lo = from, hi = to;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < key) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
