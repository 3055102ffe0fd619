package io.github.tokenbutler.plugin.predictor;

/**
 * Per-sequence predictor state: the predictor's own attention K/V cache and the importance keys of
 * every past token, for every (layer, head) of the base model.
 */
public final class ImportanceState {
    /** Drops everything: a new sequence starts at position 0. */
    public void reset() { throw new UnsupportedOperationException("TODO(predictor)"); }

    /**
     * Runs the predictor on the tokens at positions startPos..startPos+n-1.
     * @param x [n][modelDim] layer-0 attention inputs (post-RMSNorm) of those tokens
     * Computes their importance queries (kept until the next append) and appends their importance keys.
     */
    public void append(int startPos, int n, float[] x) { throw new UnsupportedOperationException("TODO(predictor)"); }

    /**
     * Predicted attention logits q_i·k_j/sqrt(d') of query token i of the last append (position startPos+i)
     * for base-model layer `layer` and query head `head`, over key positions 0..count-1, into scores[0..count).
     */
    public void scores(int i, int layer, int head, int count, float[] scores) { throw new UnsupportedOperationException("TODO(predictor)"); }

    /** As {@link #scores}, for one selection shared by the query heads of KV head `kvHead` (their mean importance query). */
    public void groupScores(int i, int layer, int kvHead, int count, float[] scores) { throw new UnsupportedOperationException("TODO(predictor)"); }

    /** Benchmarks only: synthetic importance keys for positions 0..n-1, as if n tokens had been appended. */
    public void syntheticFill(int n, long seed) { throw new UnsupportedOperationException("TODO(predictor)"); }
}
