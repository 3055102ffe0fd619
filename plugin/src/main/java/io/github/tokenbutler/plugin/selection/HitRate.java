package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/**
 * The hit-rate of one head's selection at query position p: |selected ∩ O| / |O|, O = the ceil((p+1)/2) keys
 * with the highest true logit q·k/√headSize (in the order of every top-k here: ties to the earlier key). A
 * selection of every visible key hits everything without the logits being computed.
 *
 * <p>Not thread-safe: one instance per thread (it keeps the logits and the oracle's positions between calls).
 */
public final class HitRate {
    private final int headSize;
    private final float scale;
    private final float[] row;
    private final TopKSelection topK = new TopKSelection(0);
    private int[] oracle = new int[0];
    private float[] logits = new float[0];

    public HitRate(int headSize) {
        this.headSize = headSize;
        this.scale = (float) (1.0 / Math.sqrt(headSize));
        this.row = new float[headSize];
    }

    /**
     * @param q        the head's query at qOff
     * @param keys     the layer's K cache, the head's KV head at kvOff
     * @param selected the positions the head attended, ascending, selected[0..count)
     */
    public double of(float[] q, int qOff, KvRows keys, int kvOff, int p, int[] selected, int count) {
        int oracleSize = (p + 2) / 2;
        if (count == p + 1) return 1.0;
        ensureCapacity(p + 1);
        for (int t = 0; t <= p; t++) logits[t] = keys.dot(t, kvOff, q, qOff, headSize, row) * scale;
        topK.select(logits, 0, p + 1, oracleSize, oracle, 0);
        int hits = 0, a = 0, b = 0;
        while (a < count && b < oracleSize) {
            if (selected[a] < oracle[b]) a++;
            else if (selected[a] > oracle[b]) b++;
            else { hits++; a++; b++; }
        }
        return (double) hits / oracleSize;
    }

    private void ensureCapacity(int positions) {
        if (positions <= logits.length) return;
        int size = (int) Math.min(Integer.MAX_VALUE - 8, Math.max(positions, 2L * logits.length));
        oracle = new int[size];
        logits = new float[size];
        topK.ensureCapacity(size);
    }
}
