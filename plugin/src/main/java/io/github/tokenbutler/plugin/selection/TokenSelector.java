package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import io.github.tokenbutler.runtime.Llama3.VectorMath;

/**
 * Chooses the key positions one selection unit attends to at one query position: the budget rule's mandatory
 * positions plus the policy's best candidates, ascending.
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
    private final BudgetRule budget;
    private final boolean perKvHead;
    private final int nHeads, nKvHeads, group, headSize, kvDim, qDim;
    private final float scale;
    private final PredictedScores predicted;
    private final HeavyHitterCache heavyHitters;
    private final QuestPages pages;
    private final long seed;

    /**
     * @param predicted    the predictor's logits (tokenbutler only, else null)
     * @param heavyHitters H2O's state (h2o only, else null)
     * @param pages        Quest's page metadata (quest only, else null)
     * @param seed         the random policy's seed
     */
    public TokenSelector(SelectionPolicy policy, BudgetRule budget, ModelConfig config, boolean perKvHead,
                         PredictedScores predicted, HeavyHitterCache heavyHitters, QuestPages pages, long seed) {
        this.policy = policy;
        this.budget = budget;
        this.perKvHead = perKvHead;
        this.nHeads = config.nHeads();
        this.nKvHeads = config.nKvHeads();
        this.group = config.kvGroup();
        this.headSize = config.headSize();
        this.kvDim = config.kvDim();
        this.qDim = config.qDim();
        this.scale = (float) (1.0 / Math.sqrt(headSize));
        this.predicted = predicted;
        this.heavyHitters = heavyHitters;
        this.pages = pages;
        this.seed = seed;
        if ((policy == SelectionPolicy.TOKENBUTLER) != (predicted != null)
                || (policy == SelectionPolicy.H2O) != (heavyHitters != null)
                || (policy == SelectionPolicy.QUEST) != (pages != null)) {
            throw new IllegalArgumentException("policy " + policy + " needs exactly its own state (predictor, heavy hitters or pages)");
        }
    }

    public SelectionPolicy policy() { return policy; }
    public BudgetRule budget() { return budget; }
    public boolean perKvHead() { return perKvHead; }

    /** Number of selection units per layer: query heads, or KV heads with one selection per group. */
    public int units() { return perKvHead ? nKvHeads : nHeads; }

    /** Query heads that share a unit's selection. */
    public int headsPerUnit() { return perKvHead ? group : 1; }

    public int firstHead(int unit) { return perKvHead ? unit * group : unit; }

    public int kvHead(int unit) { return perKvHead ? unit : unit / group; }

    /**
     * Writes the positions unit {@code unit} of {@code layer} attends to at query position p, ascending, to out.
     * @param q            the call's queries, [nTokens][qDim]; this query token's row at {@code qRow * qDim}
     * @param predictedRow this token's index in the predictor's last append (tokenbutler)
     * @return the number of positions written: max(K(p), mandatory), at most p+1
     */
    public int select(int layer, int unit, int p, float[] q, int qRow, int predictedRow, KvRows keyCache, Scratch s, int[] out) {
        if (policy == SelectionPolicy.H2O) return heavyHitters.step(layer, unit, p, out);
        int visible = p + 1;
        int sinkEnd = budget.sinkEnd(p), recentStart = budget.recentStart(p);
        int slots = budget.policySlots(p);
        if (slots >= recentStart - sinkEnd) {
            for (int t = 0; t < visible; t++) out[t] = t;
            return visible;
        }
        int n = 0;
        for (int t = 0; t < sinkEnd; t++) out[n++] = t;
        if (slots > 0) {
            if (policy == SelectionPolicy.STREAMING) {
                for (int t = recentStart - slots; t < recentStart; t++) out[n++] = t;
            } else {
                s.ensureCapacity(visible);
                score(layer, unit, p, q, qRow * qDim, predictedRow, keyCache, sinkEnd, recentStart, s);
                n += s.topK.select(s.scores, sinkEnd, recentStart, slots, out, n);
            }
        }
        for (int t = recentStart; t <= p; t++) out[n++] = t;
        return n;
    }

    /** Fills s.scores[from..to) with the policy's ranking scores of those candidates (higher is kept first). */
    private void score(int layer, int unit, int p, float[] q, int qRowOff, int predictedRow, KvRows keyCache,
                       int from, int to, Scratch s) {
        float[] scores = s.scores;
        switch (policy) {
            case TOKENBUTLER -> {
                long t0 = System.nanoTime();
                if (perKvHead) predicted.groupScores(predictedRow, layer, unit, to, scores);
                else predicted.scores(predictedRow, layer, unit, to, scores);
                s.predictorNanos += System.nanoTime() - t0;
            }
            case ORACLE -> {
                int qOff = query(unit, q, qRowOff, s);
                float[] query = qOff < 0 ? s.query : q;
                int qo = Math.max(qOff, 0), kvOff = kvHead(unit) * headSize;
                // The same product as the attention kernel's logit, so that the oracle's ranking is the one
                // the hit-rate's oracle set uses.
                for (int t = from; t < to; t++) scores[t] = keyCache.dot(t, kvOff, query, qo, headSize, s.row) * scale;
            }
            case QUEST -> {
                int qOff = query(unit, q, qRowOff, s);
                pages.scoreTokens(layer, kvHead(unit), qOff < 0 ? s.query : q, Math.max(qOff, 0), keyCache, p, from, to,
                        scores, s.pageScratch);
            }
            case RANDOM -> RandomScores.fill(seed, layer, unit, p, from, to, scores);
            default -> throw new IllegalStateException("policy " + policy + " has no per-token scores");
        }
    }

    /**
     * The query a unit ranks keys with: its own query head (returns its offset in q), or for a KV group the
     * mean of the group's queries, written to s.query (returns -1).
     */
    private int query(int unit, float[] q, int qRowOff, Scratch s) {
        if (!perKvHead) return qRowOff + unit * headSize;
        float[] mean = s.query;
        int first = qRowOff + unit * group * headSize;
        for (int c = 0; c < headSize; c++) {
            float sum = 0f;
            for (int h = 0; h < group; h++) sum += q[first + h * headSize + c];
            mean[c] = sum / group;
        }
        return -1;
    }
}
