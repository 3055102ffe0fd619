package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/** {@code random}: seeded uniformly random scores (the sanity floor). */
final class RandomRanking extends ScoredRanking {
    RandomRanking(SelectionSettings settings) { super(settings); }

    @Override
    void score(int layer, int unit, int p, float[] q, int qRowOff, int predictedRow, KvRows keyCache, int from, int to, TokenSelector.Scratch s) {
        RandomScores.fill(settings.seed(), layer, unit, p, from, to, s.scores);
    }
}
