package io.github.tokenbutler.eval;

/**
 * Sums the negative log-likelihood of next tokens under teacher forcing: the logits of position i score
 * the token at position i+1. Sums are kept in double (a float sum over 10^5 terms would lose digits).
 */
public final class NextTokenLoss {
    private double nllSum;
    private long count;

    /**
     * Adds the predictions of positions 1..length-1 of one sequence.
     * @param logits [length][vocab] row-major (at least (length-1)*vocab entries)
     */
    public void addSequence(float[] logits, int[] tokens, int length, int vocab) {
        addRows(logits, 0, length - 1, tokens, length, vocab);
    }

    /**
     * Adds the predictions made by rows for positions [firstPosition, firstPosition+rows) of a sequence of
     * length tokens: row r scores tokens[firstPosition+r+1]; the last position of the sequence predicts nothing.
     */
    public void addRows(float[] logits, int firstPosition, int rows, int[] tokens, int length, int vocab) {
        int scored = Math.min(rows, length - 1 - firstPosition);
        if (scored > 0 && logits.length < (long) scored * vocab) {
            throw new IllegalStateException("logits have " + logits.length + " entries, expected at least "
                    + (long) scored * vocab + " for " + scored + " positions of vocabulary " + vocab);
        }
        for (int r = 0; r < scored; r++) {
            nllSum += nll(logits, r * vocab, vocab, tokens[firstPosition + r + 1]);
            count++;
        }
    }

    /** −log softmax(logits[off..off+vocab))[target], computed as logsumexp − logit (stable for large logits). */
    public static double nll(float[] logits, int off, int vocab, int target) {
        if (target < 0 || target >= vocab) {
            throw new IllegalStateException("target token " + target + " is outside the vocabulary 0.." + (vocab - 1));
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) max = Math.max(max, logits[off + v]);
        double sum = 0;
        for (int v = 0; v < vocab; v++) sum += Math.exp(logits[off + v] - max);
        return max + Math.log(sum) - logits[off + target];
    }

    /** Index of the largest logit; the lowest index wins ties so the result is deterministic. */
    public static int argmax(float[] logits, int off, int vocab) {
        int best = 0;
        float bestValue = logits[off];
        for (int v = 1; v < vocab; v++) {
            if (logits[off + v] > bestValue) {
                bestValue = logits[off + v];
                best = v;
            }
        }
        return best;
    }

    public long count() { return count; }

    public double nllSum() { return nllSum; }

    /** Mean NLL in nats per token; NaN before any prediction. */
    public double meanNll() { return count == 0 ? Double.NaN : nllSum / count; }

    /** exp(mean NLL). */
    public double perplexity() { return Math.exp(meanNll()); }
}
