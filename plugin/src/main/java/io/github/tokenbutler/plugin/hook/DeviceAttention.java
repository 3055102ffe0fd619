package io.github.tokenbutler.plugin.hook;

import io.github.tokenbutler.runtime.Llama3.KvRows;

/**
 * Sparse attention of one model state done by an offload backend (e.g. OpenCL): the selection (scoring and
 * top-k) and the attention of layers 1..L-1, on state the backend keeps itself (a mirror of the KV cache, the
 * predictor's importance keys). {@link SparseAttention} calls it in the runtime's order: {@link #appendPredictor} (or,
 * when that declines, the CPU's predictor and then {@link #predictorAppended}) for new tokens, then {@link #attend}
 * for each layer.
 */
public interface DeviceAttention extends AutoCloseable {
    /**
     * Runs the predictor's step for positions startPos..startPos+n-1 on the device and stores the results in the
     * predictor's (CPU) state as its own append would, so that state stays complete.
     * @param x [n][E] the tokens' layer-0 attention inputs
     * @return false when the backend does not run the predictor (or gave up): the caller runs it on the CPU and
     *         then calls {@link #predictorAppended}
     */
    default boolean appendPredictor(int startPos, int n, float[] x) { return false; }

    /** The predictor appended positions startPos..startPos+n-1: its importance queries and keys changed. */
    void predictorAppended(int startPos, int n);

    /**
     * Selection and attention of one layer's call, output written to out as the runtime lays it out.
     * @param predictedRow the first query token's row in the predictor's last append
     * @return the number of attended (query head, key) pairs; -1 when the backend gave up (it said why, once)
     *         and the caller must compute this call itself
     */
    long attend(int layer, int startPos, int nTokens, int predictedRow, float[] q, KvRows keyCache, KvRows valueCache, float[] out);

    /**
     * The positions unit {@code unit} attended for query token {@code token} of the last {@link #attend} call,
     * ascending, into out; their number is returned. Only when the backend was opened with measure or record.
     */
    int selection(int token, int unit, int[] out);

    /** A new sequence starts at position 0. */
    void reset();

    @Override void close();
}
