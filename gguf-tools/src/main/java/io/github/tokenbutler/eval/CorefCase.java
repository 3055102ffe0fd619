package io.github.tokenbutler.eval;

/**
 * One co-referential retrieval case: text = introduction + distractor sentences + query + name + ".".
 * Token positions count BOS as position 0; ranges are half-open [start, end).
 *
 * @param tokens          BOS followed by the encoded text
 * @param nameStart       first token of the name's final mention (the tokens that are scored)
 * @param nameEnd         one past its last token
 * @param introNameStart  first token of the name where it is introduced
 * @param introNameEnd    one past its last token
 */
public record CorefCase(int index, String name, String creature, String text, int[] tokens, int nameStart, int nameEnd,
                        int introNameStart, int introNameEnd, int distractorSentences) {

    /** Number of name tokens scored. */
    public int nameTokens() { return nameEnd - nameStart; }

    /** Distance in tokens from the introduced name to its final mention. */
    public int distance() { return nameStart - introNameStart; }
}
