package io.github.tokenbutler.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class NextTokenLossTest {
    @Test
    void uniformLogitsGivePerplexityEqualToVocabulary() {
        int vocab = 7, length = 5;
        NextTokenLoss loss = new NextTokenLoss();
        loss.addSequence(new float[length * vocab], new int[]{1, 2, 3, 4, 5}, length, vocab);
        assertEquals(4, loss.count(), "positions 1..length-1 are predicted");
        assertEquals(Math.log(vocab), loss.meanNll(), 1e-12);
        assertEquals(vocab, loss.perplexity(), 1e-9);
    }

    @Test
    void nllIsStableForLargeLogits() {
        float[] logits = {1000f, 0f, 1000f};
        assertEquals(Math.log(2), NextTokenLoss.nll(logits, 0, 3, 0), 1e-9);
        assertEquals(1000 + Math.log(2), NextTokenLoss.nll(logits, 0, 3, 1), 1e-6);
    }

    @Test
    void lastPositionLogitsAreNotNeeded() {
        // logits of the last position predict nothing: a buffer of (length-1) rows is enough.
        NextTokenLoss loss = new NextTokenLoss();
        float[] logits = {0f, 5f, 5f, 0f};
        loss.addSequence(logits, new int[]{0, 1, 0}, 3, 2);
        assertEquals(2, loss.count());
        assertEquals(2 * NextTokenLoss.nll(logits, 0, 2, 1), loss.nllSum(), 1e-12);
    }

    @Test
    void argmaxTakesTheLowestIndexOnTies() {
        assertEquals(1, NextTokenLoss.argmax(new float[]{0f, 3f, 3f, 1f}, 0, 4));
        assertEquals(0, NextTokenLoss.argmax(new float[]{9f, 3f, 3f, 1f, 0f}, 1, 4), "offset 1 skips the 9");
    }

    @Test
    void wrongTargetIsAnInternalError() {
        assertThrows(IllegalStateException.class, () -> NextTokenLoss.nll(new float[3], 0, 3, 3));
    }
}
