package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.plugin.predictor.ImportanceState;

/**
 * The predictor's per-sequence importance logits, as the tokenbutler policy reads them. In production this is
 * the predictor's {@link ImportanceState}; tests plug in hand-made logits. {@link #scores} and
 * {@link #groupScores} are called from several worker threads at once (one head each) and must only read.
 */
public interface PredictedScores {
    /** A new sequence starts at position 0. */
    void reset();

    /** Runs the predictor on the layer-0 attention inputs x[n][dim] of positions startPos..startPos+n-1. */
    void append(int startPos, int n, float[] x);

    /** Predicted logits of query token i of the last append, (layer, query head), over key positions 0..count-1. */
    void scores(int i, int layer, int head, int count, float[] out);

    /** As {@link #scores}, one row shared by the query heads of a KV head. */
    void groupScores(int i, int layer, int kvHead, int count, float[] out);

    /** Benchmarks: state as if n tokens had been appended. */
    void syntheticFill(int n, long seed);

    /** The predictor's state, seen through this interface. */
    static PredictedScores of(ImportanceState state) {
        return new PredictedScores() {
            @Override public void reset() { state.reset(); }
            @Override public void append(int startPos, int n, float[] x) { state.append(startPos, n, x); }
            @Override public void scores(int i, int layer, int head, int count, float[] out) { state.scores(i, layer, head, count, out); }
            @Override public void groupScores(int i, int layer, int kvHead, int count, float[] out) { state.groupScores(i, layer, kvHead, count, out); }
            @Override public void syntheticFill(int n, long seed) { state.syntheticFill(n, seed); }
        };
    }
}
