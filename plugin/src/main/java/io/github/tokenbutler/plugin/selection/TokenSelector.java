package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/**
 * Chooses the key positions one selection unit attends to at one query position, through the policy's
 * {@link Ranking}: the budget rule's mandatory positions plus the policy's best candidates, ascending.
 *
 * <p>A unit is a query head (gqa=head, the paper's setting: every head has its own selection) or a KV head
 * (gqa=kv: one selection shared by the query heads of the group, scored by group-aggregated scores: the
 * predictor's mean-query logits, the oracle's and Quest's mean query, H2O's attention summed over the group).
 *
 * <p>Thread-safety: {@link #select} may run concurrently for different units, each thread with its own
 * {@link Scratch}; one unit's positions must be selected in order (H2O's state moves forward).
 */
public final class TokenSelector {
    /** Per-worker buffers, sized for the longest row seen. */
    public static final class Scratch {
        float[] scores;
        final float[] query, pageScratch, row;
        public final TopKSelection topK;
        /** Nanoseconds spent in the predictor's scoring since the last {@link #takePredictorNanos}. */
        long predictorNanos;

        public Scratch(int capacity, int headSize) {
            scores = new float[Math.max(1, capacity)];
            query = new float[headSize];
            pageScratch = new float[3 * headSize];
            row = new float[headSize];
            topK = new TopKSelection(capacity);
        }

        public void ensureCapacity(int capacity) {
            if (scores.length < capacity) scores = new float[capacity];
            topK.ensureCapacity(capacity);
        }

        public long takePredictorNanos() {
            long t = predictorNanos;
            predictorNanos = 0;
            return t;
        }
    }

    private final SelectionPolicy policy;
    private final Ranking ranking;
    private final BudgetRule budget;
    private final SelectionUnits units;

    /** The policy's {@link Ranking} for one model state, and the selection units of the settings' model. */
    public TokenSelector(SelectionPolicy policy, SelectionSettings settings) {
        this.policy = policy;
        this.ranking = policy.open(settings);
        this.budget = settings.budget();
        this.units = settings.units();
    }

    public SelectionPolicy policy() { return policy; }
    public BudgetRule budget() { return budget; }
    public boolean perKvHead() { return units.perKvHead(); }

    /** Number of selection units per layer: query heads, or KV heads with one selection per group. */
    public int units() { return units.count(); }

    /** Query heads that share a unit's selection. */
    public int headsPerUnit() { return units.headsPerUnit(); }

    public int firstHead(int unit) { return units.firstHead(unit); }

    public int kvHead(int unit) { return units.kvHead(unit); }

    /** {@link Ranking#prepare}: once per layer call, before its selections. */
    public void prepare(int layer, KvRows keyCache, int end) { ranking.prepare(layer, keyCache, end); }

    /** {@link Ranking#select}. */
    public int select(int layer, int unit, int p, float[] q, int qRow, int predictedRow, KvRows keyCache, Scratch s, int[] out) {
        return ranking.select(layer, unit, p, q, qRow, predictedRow, keyCache, s, out);
    }

    /** {@link Ranking#attended}: the weights each head of the unit gave the positions, heads weightStride apart. */
    public void attended(int layer, int unit, int[] positions, float[] weights, int weightStride, int count) {
        for (int h = 0; h < headsPerUnit(); h++) ranking.attended(layer, unit, positions, weights, h * weightStride, count);
    }

    public void reset() { ranking.reset(); }

    public void syntheticFill(int nLayers, int n, long seed, TopKSelection topK) { ranking.syntheticFill(nLayers, n, seed, topK); }
}
