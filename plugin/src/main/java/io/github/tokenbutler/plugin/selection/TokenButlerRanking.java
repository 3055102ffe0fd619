package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/** {@code tokenbutler}: the learned predictor's logits (per KV group: its mean-query logits). */
final class TokenButlerRanking extends ScoredRanking {
    private final PredictedScores predicted;

    TokenButlerRanking(SelectionSettings settings) {
        super(settings);
        if (settings.predicted() == null) throw new IllegalArgumentException("the tokenbutler policy needs the predictor's scores");
        this.predicted = settings.predicted();
    }

    @Override
    void score(int layer, int unit, int p, float[] q, int qRowOff, int predictedRow, KvRows keyCache, int from, int to, TokenSelector.Scratch s) {
        long t0 = System.nanoTime();
        if (perKvHead) predicted.groupScores(predictedRow, layer, unit, to, s.scores);
        else predicted.scores(predictedRow, layer, unit, to, s.scores);
        s.predictorNanos += System.nanoTime() - t0;
    }
}
