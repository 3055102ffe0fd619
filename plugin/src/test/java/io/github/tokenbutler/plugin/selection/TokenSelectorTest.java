package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import io.github.tokenbutler.runtime.Llama3.ModelConfig;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

class TokenSelectorTest {
    // 4 query heads over 2 KV heads of size 4.
    static final ModelConfig CONFIG = new ModelConfig(16, 32, 3, 4, 2, 4, 10, 4096, 1e-5f, 10000f);
    static final int HS = 4, KV_DIM = 8, Q_DIM = 16;

    /** Predicted logits given as a function of (head or KV head, position), with which row was asked for. */
    static final class HandMadeScores implements PredictedScores {
        final float[][] byHead;
        final float[][] byGroup;
        boolean groupAsked, headAsked;

        HandMadeScores(float[][] byHead, float[][] byGroup) { this.byHead = byHead; this.byGroup = byGroup; }

        @Override public void reset() {}
        @Override public void append(int startPos, int n, float[] x) {}
        @Override public void scores(int i, int layer, int head, int count, float[] out) {
            headAsked = true;
            System.arraycopy(byHead[head], 0, out, 0, count);
        }
        @Override public void groupScores(int i, int layer, int kvHead, int count, float[] out) {
            groupAsked = true;
            System.arraycopy(byGroup[kvHead], 0, out, 0, count);
        }
        @Override public void syntheticFill(int n, long seed) {}
    }

    private static int[] select(TokenSelector sel, int unit, int p, float[] q, float[] keys) {
        int[] out = new int[p + 1];
        int n = sel.select(1, unit, p, q, 0, 0, keys == null ? null : KvRows.wrap(keys, KV_DIM), new TokenSelector.Scratch(p + 1, HS), out);
        return Arrays.copyOf(out, n);
    }

    private static TokenSelector selector(SelectionPolicy policy, BudgetRule rule, boolean perKv, PredictedScores predicted) {
        return new TokenSelector(policy, new SelectionSettings(CONFIG, rule, perKv, predicted, 99, 0.5, 16));
    }

    @Test
    void tokenbutlerKeepsSinksWindowCurrentAndThePredictedTopOfTheRest() {
        int p = 39;
        float[] row = new float[p + 1];
        for (int t = 0; t <= p; t++) row[t] = -t;      // prefers early tokens ...
        row[20] = 100; row[30] = 90;                     // ... but these two most
        row[1] = 1000;                                   // a sink: kept anyway, does not use a slot
        row[38] = 1000;                                  // in the window: kept anyway
        HandMadeScores scores = new HandMadeScores(new float[][]{row, row, row, row}, null);
        // K = ceil(40 * 0.25) = 10; mandatory = 4 sinks + 2 window + current = 7; 3 slots.
        TokenSelector sel = selector(SelectionPolicy.TOKENBUTLER, new BudgetRule(0.75, 0, 4, 2), false, scores);
        assertArrayEquals(new int[]{0, 1, 2, 3, 4, 20, 30, 37, 38, 39}, select(sel, 2, p, new float[Q_DIM], null));
        assertTrue(scores.headAsked);
    }

    @Test
    void tokenbutlerWithGqaKvUsesTheGroupScores() {
        int p = 29;
        float[] head = new float[p + 1], group = new float[p + 1];
        group[10] = 5; group[11] = 4;
        head[20] = 5; head[21] = 4;
        HandMadeScores scores = new HandMadeScores(new float[][]{head, head, head, head}, new float[][]{group, group});
        TokenSelector sel = selector(SelectionPolicy.TOKENBUTLER, new BudgetRule(0, 7, 4, 0), true, scores);
        assertEquals(2, sel.units());
        assertEquals(2, sel.headsPerUnit());
        assertArrayEquals(new int[]{0, 1, 2, 3, 10, 11, 29}, select(sel, 1, p, new float[Q_DIM], null));
        assertTrue(scores.groupAsked);
        assertFalse(scores.headAsked);
    }

    @Test
    void tiesBetweenCandidatesKeepTheEarlierPositions() {
        int p = 99;
        float[] row = new float[p + 1]; // all zero: every candidate ties
        HandMadeScores scores = new HandMadeScores(new float[][]{row, row, row, row}, null);
        TokenSelector sel = selector(SelectionPolicy.TOKENBUTLER, new BudgetRule(0.9, 0, 4, 0), false, scores);
        // K = 10: sinks 0..3, the five earliest candidates 4..8, current 99.
        assertArrayEquals(new int[]{0, 1, 2, 3, 4, 5, 6, 7, 8, 99}, select(sel, 0, p, new float[Q_DIM], null));
    }

    @Test
    void streamingKeepsSinksAndTheMostRecentTokens() {
        TokenSelector sel = selector(SelectionPolicy.STREAMING, new BudgetRule(0.75, 0, 4, 0), false, null);
        // p = 99: K = 25 = 4 sinks + 20 recent + current.
        int[] expected = IntStream.concat(IntStream.range(0, 4), IntStream.rangeClosed(79, 99)).toArray();
        assertArrayEquals(expected, select(sel, 3, 99, new float[Q_DIM], null));
    }

    @Test
    void mandatoryTokensAreKeptEvenWhenTheyExceedTheBudget() {
        TokenSelector sel = selector(SelectionPolicy.STREAMING, new BudgetRule(0.9, 0, 4, 3), false, null);
        // p = 11: K = ceil(1.2) = 2, but 4 sinks + window 8..10 + current 11 are always kept.
        assertArrayEquals(new int[]{0, 1, 2, 3, 8, 9, 10, 11}, select(sel, 0, 11, new float[Q_DIM], null));
        // Sparsity 0 keeps everything.
        TokenSelector dense = selector(SelectionPolicy.STREAMING, new BudgetRule(0, 0, 4, 0), false, null);
        assertArrayEquals(IntStream.rangeClosed(0, 50).toArray(), select(dense, 0, 50, new float[Q_DIM], null));
    }

    @Test
    void oracleRanksByTheTrueLogitOfItsOwnHeadOrTheGroupMean() {
        int p = 19;
        float[] keys = new float[(p + 1) * KV_DIM];
        float[] q = new float[Q_DIM];
        // Head 0 (KV head 0) looks along channel 0, head 1 (also KV head 0) along channel 1.
        q[0] = 1;
        q[HS + 1] = 1;
        keys[7 * KV_DIM] = 3;       // key 7: channel 0
        keys[12 * KV_DIM + 1] = 2;  // key 12: channel 1
        keys[15 * KV_DIM + 1] = 5;  // key 15: channel 1, larger
        TokenSelector perHead = selector(SelectionPolicy.ORACLE, new BudgetRule(0, 6, 4, 0), false, null);
        assertArrayEquals(new int[]{0, 1, 2, 3, 7, 19}, select(perHead, 0, p, q, keys));
        assertArrayEquals(new int[]{0, 1, 2, 3, 15, 19}, select(perHead, 1, p, q, keys));
        // Mean query of heads 0 and 1 = (0.5, 0.5, 0, 0): logits 1.5 (key 7), 1 (key 12), 2.5 (key 15).
        TokenSelector perKv = selector(SelectionPolicy.ORACLE, new BudgetRule(0, 7, 4, 0), true, null);
        assertArrayEquals(new int[]{0, 1, 2, 3, 7, 15, 19}, select(perKv, 0, p, q, keys));
    }

    @Test
    void questTakesWholePagesByBoundAndTheEarliestKeysOfTheLastPage() {
        int p = 16 * 6 + 3; // pages 0..5 full, page 6 partial (96..99)
        float[] keys = new float[(p + 1) * KV_DIM];
        float[] q = new float[Q_DIM];
        q[0] = 1;
        // Page bounds along channel 0 for KV head 0: page 2 highest, then page 4, then page 5.
        keys[(2 * 16 + 5) * KV_DIM] = 9;
        keys[(4 * 16 + 1) * KV_DIM] = 7;
        keys[(5 * 16 + 9) * KV_DIM] = 6;
        // Slots: K = 4 + 16 + 16 + 5 + 1 -> 4 sinks, pages 2 and 4 whole, 5 keys of page 5, current.
        TokenSelector sel = selector(SelectionPolicy.QUEST, new BudgetRule(0, 4 + 16 + 16 + 5 + 1, 4, 0), false, null);
        int[] expected = IntStream.concat(IntStream.concat(IntStream.range(0, 4), IntStream.range(32, 48)),
                IntStream.concat(IntStream.range(64, 85), IntStream.of(p))).toArray();
        assertArrayEquals(expected, select(sel, 0, p, q, keys));
    }

    @Test
    void randomIsSeededDeterministicAndUsesTheBudget() {
        BudgetRule rule = new BudgetRule(0.5, 0, 4, 0);
        TokenSelector a = selector(SelectionPolicy.RANDOM, rule, false, null);
        int[] first = select(a, 2, 999, new float[Q_DIM], null);
        assertEquals(500, first.length);
        assertArrayEquals(first, select(a, 2, 999, new float[Q_DIM], null));
        assertFalse(Arrays.equals(first, select(a, 3, 999, new float[Q_DIM], null)), "another head draws other tokens");
        TokenSelector b = new TokenSelector(SelectionPolicy.RANDOM, new SelectionSettings(CONFIG, rule, false, null, 100, 0.5, 16));
        assertFalse(Arrays.equals(first, select(b, 2, 999, new float[Q_DIM], null)), "another seed draws other tokens");
        // Spread over the whole range, not bunched at one end.
        long early = Arrays.stream(first).filter(t -> t >= 4 && t < 500).count();
        assertTrue(early > 200 && early < 300, "about half the picks in the first half: " + early);
    }

    @Test
    void h2oSelectionIsTheHeavyHitterCachesKeptSet() {
        BudgetRule rule = new BudgetRule(0.5, 0, 4, 0);
        TokenSelector sel = selector(SelectionPolicy.H2O, rule, false, null);
        for (int p = 0; p < 50; p++) {
            int[] got = select(sel, 1, p, new float[Q_DIM], null);
            assertEquals(Math.max(rule.keep(p), rule.mandatory(p)), got.length, "p=" + p);
            assertEquals(p, got[got.length - 1]);
        }
    }
}
