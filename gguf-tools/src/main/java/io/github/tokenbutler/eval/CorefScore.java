package io.github.tokenbutler.eval;

/**
 * The co-reference score, as the paper computes it: under teacher forcing, a name token counts as
 * mispredicted when the argmax of the logits before it is another token. Per case the error is the share
 * of the final name's tokens mispredicted; a case is a miss when any of them is. Both are averaged over cases.
 */
public final class CorefScore {
    private double errorSum;
    private int misses;
    private int cases;
    private long nameTokens, wrongTokens;

    /** The model's argmax predictions of a case's name tokens (teacher forcing), in order. */
    public static int[] predictName(SequenceModel model, CorefCase c, int vocab) {
        int[] predicted = new int[c.nameTokens()];
        // Positions after the name are not needed: the sequence is run only up to its last name token.
        SequenceModel.run(model, c.tokens(), c.nameEnd(), vocab, (logits, first, rows) -> {
            for (int r = 0; r < rows; r++) {
                int target = first + r + 1;
                if (target >= c.nameStart() && target < c.nameEnd()) {
                    predicted[target - c.nameStart()] = NextTokenLoss.argmax(logits, r * vocab, vocab);
                }
            }
        });
        return predicted;
    }

    /** Scores one case from the predicted name tokens; returns how many are wrong. */
    public int add(CorefCase c, int[] predicted) {
        if (predicted.length != c.nameTokens()) {
            throw new IllegalArgumentException(predicted.length + " predictions for a name of " + c.nameTokens() + " tokens");
        }
        int wrong = 0;
        for (int i = 0; i < predicted.length; i++) {
            if (predicted[i] != c.tokens()[c.nameStart() + i]) wrong++;
        }
        errorSum += (double) wrong / c.nameTokens();
        if (wrong > 0) misses++;
        cases++;
        nameTokens += c.nameTokens();
        wrongTokens += wrong;
        return wrong;
    }

    public int cases() { return cases; }

    /** Mean over cases of the share of name tokens mispredicted, 0..1; NaN before any case. */
    public double nameTokenError() { return cases == 0 ? Double.NaN : errorSum / cases; }

    /** Share of cases with at least one name token mispredicted, 0..1. */
    public double missRate() { return cases == 0 ? Double.NaN : (double) misses / cases; }

    public long nameTokens() { return nameTokens; }

    public long wrongTokens() { return wrongTokens; }
}
