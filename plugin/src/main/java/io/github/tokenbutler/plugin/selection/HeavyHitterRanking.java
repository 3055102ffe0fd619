package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/** {@code h2o}: heavy hitters by accumulated attention plus recent tokens ({@link HeavyHitterCache}, this policy's state). */
final class HeavyHitterRanking implements Ranking {
    private final HeavyHitterCache cache;

    HeavyHitterRanking(SelectionSettings settings) {
        this.cache = new HeavyHitterCache(settings.config().nLayers(), settings.units().count(), settings.budget(), settings.recentFraction());
    }

    @Override
    public int select(int layer, int unit, int p, float[] q, int qRow, int predictedRow, KvRows keyCache, TokenSelector.Scratch s, int[] out) {
        return cache.step(layer, unit, p, out);
    }

    @Override
    public void attended(int layer, int unit, int[] positions, float[] weights, int weightOff, int count) {
        cache.accumulate(layer, unit, positions, weights, weightOff, count);
    }

    @Override public void reset() { cache.reset(); }

    @Override
    public void syntheticFill(int nLayers, int n, long seed, TopKSelection topK) {
        topK.ensureCapacity(n);
        cache.syntheticFill(1, nLayers, n, seed, topK);
    }
}
