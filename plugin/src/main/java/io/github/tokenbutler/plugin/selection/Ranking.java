package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/**
 * One selection policy for one model state, owning the policy's per-sequence state: which key positions each
 * selection unit attends to at each query position. One class per policy ({@link SelectionPolicy#open} makes
 * them); {@link TokenSelector} holds one with the unit geometry.
 *
 * <p>Thread-safety: {@link #select} and {@link #attended} may run concurrently for different units, each thread
 * with its own {@link TokenSelector.Scratch}; one unit's positions come in order.
 */
public interface Ranking {
    /** A layer call over positions up to end-1 is about to select (Quest brings its page bounds up to date). */
    default void prepare(int layer, KvRows keyCache, int end) {}

    /**
     * Writes the positions unit {@code unit} of {@code layer} attends to at query position p, ascending, to out.
     * @param q            the call's queries, [nTokens][qDim]; this query token's row at {@code qRow * qDim}
     * @param predictedRow this token's index in the predictor's last append (tokenbutler)
     * @return the number of positions written: max(K(p), mandatory), at most p+1
     */
    int select(int layer, int unit, int p, float[] q, int qRow, int predictedRow, KvRows keyCache, TokenSelector.Scratch s, int[] out);

    /** The attention weights the unit's heads gave the selected positions (H2O adds them up). */
    default void attended(int layer, int unit, int[] positions, float[] weights, int weightOff, int count) {}

    /** A new sequence starts at position 0. */
    default void reset() {}

    /** Benchmarks: state as if n tokens had been run. */
    default void syntheticFill(int nLayers, int n, long seed, TopKSelection topK) {}
}
