package io.github.tokenbutler.eval;

/**
 * Teacher-forced logits of a sequence, computed piece by piece: lets the measurement loops run against
 * the real model ({@link PolicySession}) or against a fake in tests, without ever holding the logits of a
 * whole long sequence (2048 positions × 128K vocabulary would be 1 GiB).
 */
@FunctionalInterface
public interface SequenceModel {
    /**
     * Logits of positions [from, from+count) of tokens. A call with from == 0 starts a new sequence; every
     * later call continues exactly where the previous one ended (from == previous from + count).
     * @return [count][vocab] row-major: row r is the prediction for position from+r+1
     */
    float[] logits(int[] tokens, int from, int count);

    /** Receives one piece of logits: rows for positions [firstPosition, firstPosition+rows). */
    @FunctionalInterface
    interface Rows {
        void accept(float[] logits, int firstPosition, int rows);
    }

    /** The most logits held at once (64 MiB of floats); a piece holds at least one position. */
    int LOGITS_BUDGET_FLOATS = 1 << 24;

    /** Runs positions 0..length-1 in consecutive pieces of at most {@link #LOGITS_BUDGET_FLOATS} logits. */
    static void run(SequenceModel model, int[] tokens, int length, int vocab, Rows rows) {
        int piece = Math.max(1, LOGITS_BUDGET_FLOATS / vocab);
        for (int from = 0; from < length; from += piece) {
            int n = Math.min(piece, length - from);
            rows.accept(model.logits(tokens, from, n), from, n);
        }
    }
}
