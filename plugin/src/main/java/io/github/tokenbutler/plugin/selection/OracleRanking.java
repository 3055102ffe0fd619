package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/** {@code oracle}: the true q·k of each head (per KV group: of the group's mean query). */
final class OracleRanking extends ScoredRanking {
    private final float scale;

    OracleRanking(SelectionSettings settings) {
        super(settings);
        this.scale = (float) (1.0 / Math.sqrt(headSize));
    }

    @Override
    void score(int layer, int unit, int p, float[] q, int qRowOff, int predictedRow, KvRows keyCache, int from, int to, TokenSelector.Scratch s) {
        int qOff = query(unit, q, qRowOff, s);
        float[] query = qOff < 0 ? s.query : q;
        int qo = Math.max(qOff, 0), kvOff = kvHead(unit) * headSize;
        // The same product as the attention kernel's logit, so that the oracle's ranking is the one the
        // hit-rate's oracle set uses.
        for (int t = from; t < to; t++) s.scores[t] = keyCache.dot(t, kvOff, query, qo, headSize, s.row) * scale;
    }
}
