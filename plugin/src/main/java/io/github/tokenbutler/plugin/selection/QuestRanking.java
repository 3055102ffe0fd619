package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/** {@code quest}: pages ranked by their per-channel key bounds ({@link QuestPages}, this policy's state). */
final class QuestRanking extends ScoredRanking {
    private final QuestPages pages;

    QuestRanking(SelectionSettings settings) {
        super(settings);
        this.pages = new QuestPages(settings.config().nLayers(), settings.config().nKvHeads(), headSize, settings.pageSize());
    }

    @Override public void prepare(int layer, KvRows keyCache, int end) { pages.update(layer, keyCache, end); }

    @Override
    void score(int layer, int unit, int p, float[] q, int qRowOff, int predictedRow, KvRows keyCache, int from, int to, TokenSelector.Scratch s) {
        int qOff = query(unit, q, qRowOff, s);
        pages.scoreTokens(layer, kvHead(unit), qOff < 0 ? s.query : q, Math.max(qOff, 0), keyCache, p, from, to, s.scores, s.pageScratch);
    }

    // Quest builds its pages from the key cache on the next prepare: nothing to fill.
    @Override public void reset() { pages.reset(); }
}
