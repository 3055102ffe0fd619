package io.github.tokenbutler.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class CorefScoreTest {
    /**
     * A fake model predicting the true next token everywhere except at the given positions; it checks the
     * piecewise contract (each call continues where the previous ended).
     */
    static SequenceModel model(int vocab, int... wrongAt) {
        int[] next = {0};
        return (tokens, from, count) -> {
            if (from != 0 && from != next[0]) throw new AssertionError("call at " + from + ", expected " + next[0]);
            next[0] = from + count;
            float[] l = new float[count * vocab];
            for (int r = 0; r < count; r++) {
                int p = from + r + 1;
                if (p >= tokens.length) continue;
                int predicted = tokens[p];
                for (int w : wrongAt) if (w == p) predicted = (tokens[p] + 1) % vocab;
                l[r * vocab + predicted] = 5f;
            }
            return l;
        };
    }

    @Test
    void scoresOnlyTheFinalMentionOfTheName() {
        int[] tokens = {1, 10, 11, 12, 20, 21, 22, 10, 11, 12};
        CorefCase c = new CorefCase(0, "Abc", "cat", "t", tokens, 7, 10, 1, 4, 1);
        CorefScore s = new CorefScore();
        assertEquals(0, s.add(c, CorefScore.predictName(model(32, 2, 5), c, 32)), "errors outside the scored span do not count");
        assertEquals(1, s.add(c, CorefScore.predictName(model(32, 8), c, 32)));
        assertEquals(3, s.add(c, CorefScore.predictName(model(32, 7, 8, 9), c, 32)));
        assertEquals(3, s.cases());
        assertEquals((0 + 1 / 3.0 + 1) / 3, s.nameTokenError(), 1e-12, "mean over cases of the per-case share");
        assertEquals(2 / 3.0, s.missRate(), 1e-12);
        assertEquals(9, s.nameTokens());
        assertEquals(4, s.wrongTokens());
    }

    @Test
    void piecesCoverEveryPositionOnceAndInOrder() {
        int vocab = SequenceModel.LOGITS_BUDGET_FLOATS / 3; // pieces of 3 positions
        int[] tokens = new int[10];
        java.util.List<Integer> firsts = new java.util.ArrayList<>();
        SequenceModel.run((t, from, count) -> new float[0], tokens, 10, vocab, (l, first, rows) -> { firsts.add(first); assertTrue(rows <= 3); });
        assertEquals(java.util.List.of(0, 3, 6, 9), firsts);
    }

    @Test
    void lossOverPiecesEqualsLossOverTheWholeSequence() {
        int vocab = 5, length = 7;
        int[] tokens = {1, 2, 3, 4, 0, 1, 2};
        float[] all = new float[length * vocab];
        for (int i = 0; i < all.length; i++) all[i] = (float) Math.sin(i * 0.7);
        NextTokenLoss whole = new NextTokenLoss();
        whole.addSequence(all, tokens, length, vocab);
        NextTokenLoss pieces = new NextTokenLoss();
        for (int from = 0; from < length; from += 3) {
            int rows = Math.min(3, length - from);
            pieces.addRows(java.util.Arrays.copyOfRange(all, from * vocab, (from + rows) * vocab), from, rows, tokens, length, vocab);
        }
        assertEquals(whole.count(), pieces.count());
        assertEquals(whole.nllSum(), pieces.nllSum(), 1e-12);
    }

    @Test
    void reportTableAndCsv() {
        var dense = new CorefEvaluation.Row("dense", 0, SelectionSummary.DENSE, 0.1, 0.2, 10);
        var oracle = new CorefEvaluation.Row("oracle", 0.5, new SelectionSummary(0.5, 0.4, 1), 0.15, 0.3, 10);
        var r = new CorefEvaluation.Report("m", 256, java.util.List.of(), java.util.List.of(dense, oracle));
        String[] csv = r.csv().split("\n");
        assertEquals(String.join(",", CorefEvaluation.CSV_HEADER), csv[0]);
        assertEquals("m,oracle,0.5,0.500000,0.400000,15.0000,30.0000,5.0000,1.000000,10", csv[2]);
        assertTrue(r.table().contains("+5.0 pts"), r.table());
        assertNotNull(r.plot());
    }
}
