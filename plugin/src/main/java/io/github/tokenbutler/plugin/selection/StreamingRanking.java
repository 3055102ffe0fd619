package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/** {@code streaming} (StreamingLLM): the sinks and the most recent tokens; nothing is scored. */
final class StreamingRanking extends ScoredRanking {
    StreamingRanking(SelectionSettings settings) { super(settings); }

    @Override
    int fillSlots(int layer, int unit, int p, float[] q, int qRowOff, int predictedRow, KvRows keyCache,
                  int from, int to, int slots, TokenSelector.Scratch s, int[] out, int n) {
        for (int t = to - slots; t < to; t++) out[n++] = t;
        return slots;
    }

    @Override
    void score(int layer, int unit, int p, float[] q, int qRowOff, int predictedRow, KvRows keyCache, int from, int to, TokenSelector.Scratch s) {
        throw new IllegalStateException("streaming scores nothing");
    }
}
