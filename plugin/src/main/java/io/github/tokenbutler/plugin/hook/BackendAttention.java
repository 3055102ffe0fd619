package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/**
 * Sparse attention of one model state on a backend: the selection (scoring and top-k) and the attention of
 * layers 1..L-1, with whatever state the backend keeps (on the CPU the policies' per-sequence state; on a
 * device a mirror of the KV cache and the predictor's importance keys). {@link SparseAttention} calls it in
 * the runtime's order: {@link #appendPredictor} (or, when that declines, the CPU's predictor and then
 * {@link #predictorAppended}) for new tokens, then {@link #attend} for each layer.
 */
public interface BackendAttention extends AutoCloseable {
    /**
     * Runs the predictor's step for positions startPos..startPos+n-1 on the device, which keeps the results; the
     * predictor's (CPU) state is filled from the device only if the device gives up.
     * @param x [n][E] the tokens' layer-0 attention inputs
     * @return false when the backend does not run the predictor (the CPU, or a device that gave up): the caller
     *         runs it on the CPU and then calls {@link #predictorAppended}
     */
    default boolean appendPredictor(int startPos, int n, float[] x) { return false; }

    /** The predictor appended positions startPos..startPos+n-1: its importance queries and keys changed. */
    void predictorAppended(int startPos, int n);

    /**
     * Selection and attention of one layer's call, output written to out as the runtime lays it out.
     * @param predictedRow the first query token's row in the predictor's last append
     * @return the number of attended (query head, key) pairs; -1 when a device gave up (it said why, once) and
     *         the caller must compute this call on the CPU
     */
    long attend(int layer, int startPos, int nTokens, int predictedRow, float[] q, KvRows keyCache, KvRows valueCache, float[] out);

    /**
     * The positions unit {@code unit} attended for query token {@code token} of the last {@link #attend} call,
     * ascending, into out; their number is returned. Only when opened with measure, or for the record layer.
     */
    int selection(int token, int unit, int[] out);

    /** Nanoseconds of the calls since the last take spent in the predictor's scoring (part of attend's time). */
    default long takePredictorNanos() { return 0; }

    /** Nanoseconds of the calls since the last take spent selecting (part of attend's time). */
    default long takeSelectionNanos() { return 0; }

    /** Benchmarks: state as if nTokens tokens had been run (the predictor's state is already filled). */
    default void syntheticFill(int nTokens, long seed) { predictorAppended(0, nTokens); }

    /** A new sequence starts at position 0. */
    void reset();

    @Override void close();
}
