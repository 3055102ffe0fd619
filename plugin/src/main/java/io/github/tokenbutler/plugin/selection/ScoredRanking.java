package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/**
 * The budget rule shared by the policies that rank candidates: the sinks, then the policy's best candidates for
 * the free slots, then the window and the current position, ascending. A subclass scores the candidates.
 */
abstract class ScoredRanking implements Ranking {
    final SelectionSettings settings;
    final BudgetRule budget;
    final int headSize, qDim, group;
    final boolean perKvHead;
    final SelectionUnits units;

    ScoredRanking(SelectionSettings settings) {
        this.settings = settings;
        this.budget = settings.budget();
        this.headSize = settings.config().headSize();
        this.qDim = settings.config().qDim();
        this.group = settings.config().kvGroup();
        this.perKvHead = settings.perKvHead();
        this.units = settings.units();
    }

    @Override
    public int select(int layer, int unit, int p, float[] q, int qRow, int predictedRow, KvRows keyCache, TokenSelector.Scratch s, int[] out) {
        int visible = p + 1;
        int sinkEnd = budget.sinkEnd(p), recentStart = budget.recentStart(p);
        int slots = budget.policySlots(p);
        if (slots >= recentStart - sinkEnd) {
            for (int t = 0; t < visible; t++) out[t] = t;
            return visible;
        }
        int n = 0;
        for (int t = 0; t < sinkEnd; t++) out[n++] = t;
        if (slots > 0) n += fillSlots(layer, unit, p, q, qRow * qDim, predictedRow, keyCache, sinkEnd, recentStart, slots, s, out, n);
        for (int t = recentStart; t <= p; t++) out[n++] = t;
        return n;
    }

    /** The policy's picks among candidates [from, to), ascending, at out[n..]: the top slots by score. */
    int fillSlots(int layer, int unit, int p, float[] q, int qRowOff, int predictedRow, KvRows keyCache,
                  int from, int to, int slots, TokenSelector.Scratch s, int[] out, int n) {
        s.ensureCapacity(p + 1);
        score(layer, unit, p, q, qRowOff, predictedRow, keyCache, from, to, s);
        return s.topK.select(s.scores, from, to, slots, out, n);
    }

    /** Fills s.scores[from..to) with the ranking scores of those candidates (higher is kept first). */
    abstract void score(int layer, int unit, int p, float[] q, int qRowOff, int predictedRow, KvRows keyCache,
                        int from, int to, TokenSelector.Scratch s);

    int kvHead(int unit) { return units.kvHead(unit); }

    /**
     * The query a unit ranks keys with: its own query head (returns its offset in q), or for a KV group the
     * mean of the group's queries, written to s.query (returns -1).
     */
    int query(int unit, float[] q, int qRowOff, TokenSelector.Scratch s) {
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
