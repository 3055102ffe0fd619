package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class QuestPagesTest {
    private static final int KV_HEADS = 2, HEAD_SIZE = 24, KV_DIM = KV_HEADS * HEAD_SIZE, PAGE = 16;

    private static float[] randomKeys(int positions, long seed) {
        Random rnd = new Random(seed);
        float[] k = new float[positions * KV_DIM];
        for (int i = 0; i < k.length; i++) k[i] = (float) rnd.nextGaussian();
        return k;
    }

    @Test
    void pageBoundIsAtLeastEveryLogitInThePageAndMatchesTheBruteForceBound() {
        int positions = 16 * 20 + 5;
        float[] keys = randomKeys(positions, 1);
        QuestPages pages = new QuestPages(2, KV_HEADS, HEAD_SIZE, PAGE);
        pages.update(1, KvRows.wrap(keys, KV_DIM), positions);
        Random rnd = new Random(2);
        float[] q = new float[HEAD_SIZE];
        float[] scores = new float[positions];
        float[] scratch = new float[3 * HEAD_SIZE];
        for (int trial = 0; trial < 20; trial++) {
            for (int c = 0; c < HEAD_SIZE; c++) q[c] = (float) rnd.nextGaussian();
            int kvHead = trial % KV_HEADS, p = positions - 1;
            pages.scoreTokens(1, kvHead, q, 0, KvRows.wrap(keys, KV_DIM), p, 0, positions, scores, scratch);
            for (int page = 0; page * PAGE <= p; page++) {
                int first = page * PAGE, last = Math.min(first + PAGE - 1, p);
                double brute = QuestPages.boundReference(q, 0, keys, KV_DIM, kvHead * HEAD_SIZE, HEAD_SIZE, first, last);
                double maxLogit = Double.NEGATIVE_INFINITY;
                for (int t = first; t <= last; t++) {
                    double dot = 0;
                    for (int c = 0; c < HEAD_SIZE; c++) dot += (double) q[c] * keys[t * KV_DIM + kvHead * HEAD_SIZE + c];
                    maxLogit = Math.max(maxLogit, dot);
                }
                for (int t = first; t <= last; t++) {
                    assertEquals(brute, scores[t], 1e-4 * Math.max(1, Math.abs(brute)), "page " + page + " key " + t);
                }
                assertTrue(scores[first] >= maxLogit - 1e-4, "bound " + scores[first] + " >= max logit " + maxLogit);
            }
        }
    }

    @Test
    void builtPagesAndPagesComputedOnTheFlyGiveTheSameScores() {
        int positions = 16 * 9 + 11;
        float[] keys = randomKeys(positions, 3);
        QuestPages built = new QuestPages(2, KV_HEADS, HEAD_SIZE, PAGE), fresh = new QuestPages(2, KV_HEADS, HEAD_SIZE, PAGE);
        built.update(1, KvRows.wrap(keys, KV_DIM), 50);
        built.update(1, KvRows.wrap(keys, KV_DIM), positions); // incremental: pages 3.. added to 0..2
        float[] q = randomKeys(1, 4);
        float[] a = new float[positions], b = new float[positions], scratch = new float[3 * HEAD_SIZE];
        built.scoreTokens(1, 1, q, 0, KvRows.wrap(keys, KV_DIM), positions - 1, 5, positions - 1, a, scratch);
        fresh.scoreTokens(1, 1, q, 0, KvRows.wrap(keys, KV_DIM), positions - 1, 5, positions - 1, b, scratch);
        assertArrayEquals(b, a);
    }

    @Test
    void thePartialPageOnlyCoversPositionsUpToTheQuery() {
        int positions = 40;
        float[] keys = randomKeys(positions, 5);
        // A huge key at position 39 must not raise the bound of page 2 for a query at position 35.
        for (int c = 0; c < HEAD_SIZE; c++) keys[39 * KV_DIM + c] = 1000f;
        QuestPages pages = new QuestPages(2, KV_HEADS, HEAD_SIZE, PAGE);
        pages.update(1, KvRows.wrap(keys, KV_DIM), positions);
        float[] q = new float[HEAD_SIZE];
        java.util.Arrays.fill(q, 1f);
        float[] s = new float[positions], scratch = new float[3 * HEAD_SIZE];
        pages.scoreTokens(1, 0, q, 0, KvRows.wrap(keys, KV_DIM), 35, 32, 35, s, scratch);
        double expected = QuestPages.boundReference(q, 0, keys, KV_DIM, 0, HEAD_SIZE, 32, 35);
        assertEquals(expected, s[32], 1e-3);
        assertTrue(s[32] < 500);
    }
}
