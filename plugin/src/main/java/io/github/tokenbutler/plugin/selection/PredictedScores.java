package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.plugin.predictor.ImportanceState;
import io.github.tokenbutler.plugin.predictor.RevisedImportanceState;
import io.github.tokenbutler.runtime.Llama3.KvRows;

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

    /**
     * The attention input x[n][dim] of layer `layer` ≥ 1 (layer 0's comes through {@link #append}): the revised
     * predictor's producer layers read it; v1 ignores it.
     */
    default void layerInput(int layer, int startPos, int n, float[] x) {}

    /**
     * Layer `layer`'s K rows of positions startPos..startPos+n-1 were written to the cache (post-RoPE, in its stored
     * type), before the layer's scores are read: the revised predictor projects them into its importance keys.
     */
    default void keysWritten(int layer, int startPos, int n, KvRows keys) {}

    /** Layer `layer`'s new keys before RoPE, k [n][kvDim]: a rotary revised predictor projects these instead. */
    default void keysBeforeRope(int layer, int startPos, int n, float[] k) {}

    /** Predicted logits of query token i of the last append, (layer, query head), over key positions 0..count-1. */
    void scores(int i, int layer, int head, int count, float[] out);

    /** As {@link #scores}, one row shared by the query heads of a KV head. */
    void groupScores(int i, int layer, int kvHead, int count, float[] out);

    /** Bytes of importance keys stored per position (all layers and heads). */
    default long keyBytesPerPosition() { return 0; }

    /**
     * Bytes of importance keys the scoring of one token reads per key position, over the sparse layers 1..L-1: one
     * pass per query head, or per KV head with perKvHead (re-reads counted).
     */
    default long keyBytesReadPerPosition(boolean perKvHead) { return 0; }

    /** Benchmarks: state as if n tokens had been appended. */
    void syntheticFill(int n, long seed);

    /** A revised (v2) predictor's state, seen through this interface: layer 0's input is its first producer's. */
    static PredictedScores of(RevisedImportanceState state) {
        return new PredictedScores() {
            @Override public void reset() { state.reset(); }
            @Override public void append(int startPos, int n, float[] x) { state.producerInput(0, startPos, n, x); }
            @Override public void layerInput(int layer, int startPos, int n, float[] x) { state.producerInput(layer, startPos, n, x); }
            @Override public void keysWritten(int layer, int startPos, int n, KvRows keys) { state.keysWritten(layer, startPos, n, keys); }
            @Override public void keysBeforeRope(int layer, int startPos, int n, float[] k) { state.keysBeforeRope(layer, startPos, n, k); }
            @Override public void scores(int i, int layer, int head, int count, float[] out) { state.scores(i, layer, head, count, out); }
            @Override public void groupScores(int i, int layer, int kvHead, int count, float[] out) { state.groupScores(i, layer, kvHead, count, out); }
            @Override public void syntheticFill(int n, long seed) { state.syntheticFill(n, seed); }
            @Override public long keyBytesPerPosition() {
                var c = state.config();
                return (long) c.modelLayers() * c.modelKvHeads() * state.precision().bytesPerVector(c.dPrime());
            }
            @Override public long keyBytesReadPerPosition(boolean perKvHead) {
                var c = state.config();
                return (long) (c.modelLayers() - 1) * (perKvHead ? c.modelKvHeads() : c.modelHeads()) * state.precision().bytesPerVector(c.dPrime());
            }
        };
    }

    /** The predictor's state, seen through this interface. */
    static PredictedScores of(ImportanceState state) {
        return new PredictedScores() {
            @Override public void reset() { state.reset(); }
            @Override public void append(int startPos, int n, float[] x) { state.append(startPos, n, x); }
            @Override public void scores(int i, int layer, int head, int count, float[] out) { state.scores(i, layer, head, count, out); }
            @Override public void groupScores(int i, int layer, int kvHead, int count, float[] out) { state.groupScores(i, layer, kvHead, count, out); }
            @Override public void syntheticFill(int n, long seed) { state.syntheticFill(n, seed); }
            @Override public long keyBytesPerPosition() {
                var c = state.config();
                return (long) c.modelLayers() * c.modelHeads() * state.precision().bytesPerVector(c.dPrime());
            }
            // every query head has keys of its own: a KV group's shared row still reads each head's keys
            @Override public long keyBytesReadPerPosition(boolean perKvHead) {
                var c = state.config();
                return (long) (c.modelLayers() - 1) * c.modelHeads() * state.precision().bytesPerVector(c.dPrime());
            }
        };
    }
}
