package io.github.tokenbutler.plugin.selection;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class HeavyHitterCacheTest {
    private static int[] step(HeavyHitterCache cache, int p) {
        int[] out = new int[p + 1];
        return Arrays.copyOf(out, cache.step(1, 0, p, out));
    }

    /** Attends the kept positions with the given weights per position (weights indexed by position). */
    private static void attend(HeavyHitterCache cache, int[] kept, float... weightByPosition) {
        float[] w = new float[kept.length];
        for (int j = 0; j < kept.length; j++) w[j] = kept[j] < weightByPosition.length ? weightByPosition[kept[j]] : 0f;
        cache.accumulate(1, 0, kept, w, 0, kept.length);
    }

    @Test
    void evictsTheLeastAccumulatedAttentionAndTiesEvictTheLaterPosition() {
        // Budget 6, one sink, no window, no recent share: only position 0 and the current one are protected.
        HeavyHitterCache cache = new HeavyHitterCache(2, 1, new BudgetRule(0, 6, 1, 0), 0);
        int[] kept = null;
        for (int p = 0; p <= 5; p++) {
            kept = step(cache, p);
            assertEquals(p + 1, kept.length, "under the budget nothing is evicted");
        }
        attend(cache, kept, 0.0f, 0.5f, 0.1f, 0.9f, 0.1f, 0.3f);
        kept = step(cache, 6);
        assertArrayEquals(new int[]{0, 1, 2, 3, 5, 6}, kept, "4 and 2 tie at 0.1: the later one, 4, goes");
        attend(cache, kept, 0f, 0f, 0f, 0f, 0f, 0f, 0.05f);
        kept = step(cache, 7);
        assertArrayEquals(new int[]{0, 1, 2, 3, 5, 7}, kept, "6 has 0.05, below 2's 0.1: 6 goes");
        attend(cache, kept, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0.35f);
        kept = step(cache, 8);
        assertArrayEquals(new int[]{0, 1, 3, 5, 7, 8}, kept, "2 (0.1) is now the least");
        kept = step(cache, 9);
        assertArrayEquals(new int[]{0, 1, 3, 5, 7, 9}, kept, "8 was never attended (0) and goes at once without a recent share");
        assertEquals(0.5f, cache.accumulated(1, 0, 1));
    }

    @Test
    void evictedTokensNeverReturnAndTheKeptCountFollowsTheBudget() {
        BudgetRule rule = new BudgetRule(0.75, 0, 4, 2);
        HeavyHitterCache cache = new HeavyHitterCache(2, 1, rule, 0.5);
        Random rnd = new Random(7);
        Set<Integer> evicted = new HashSet<>();
        int[] previous = new int[0];
        for (int p = 0; p < 600; p++) {
            int[] kept = step(cache, p);
            assertEquals(Math.max(rule.keep(p), rule.mandatory(p)), kept.length, "p=" + p);
            for (int j = 1; j < kept.length; j++) assertTrue(kept[j - 1] < kept[j]);
            Set<Integer> now = new HashSet<>();
            for (int t : kept) {
                now.add(t);
                assertFalse(evicted.contains(t), "position " + t + " came back at p=" + p);
            }
            for (int t : previous) if (!now.contains(t)) evicted.add(t);
            for (int t = 0; t < rule.sinkEnd(p); t++) assertTrue(now.contains(t), "sink " + t);
            for (int t = cache.protectedStart(p); t <= p; t++) assertTrue(now.contains(t), "protected recent " + t + " at p=" + p);
            float[] w = new float[kept.length];
            for (int j = 0; j < w.length; j++) w[j] = rnd.nextFloat();
            cache.accumulate(1, 0, kept, w, 0, kept.length);
            previous = kept;
        }
        assertFalse(evicted.isEmpty());
    }

    @Test
    void recentShareProtectsHalfThePolicySlots() {
        BudgetRule rule = new BudgetRule(0.5, 0, 4, 0);
        HeavyHitterCache cache = new HeavyHitterCache(1, 1, rule, 0.5);
        // p = 199: K = 100, mandatory = 5 (4 sinks + current), 95 slots, floor(47.5) = 47 recent before p.
        assertEquals(199 - 47, cache.protectedStart(199));
        HeavyHitterCache none = new HeavyHitterCache(1, 1, rule, 0);
        assertEquals(199, none.protectedStart(199));
    }

    @Test
    void positionsMustArriveInOrder() {
        HeavyHitterCache cache = new HeavyHitterCache(2, 1, new BudgetRule(0.5, 0, 4, 0), 0.5);
        step(cache, 0);
        assertThrows(IllegalStateException.class, () -> step(cache, 2));
        cache.reset();
        assertEquals(1, step(cache, 0).length);
    }

    @Test
    void syntheticFillKeepsTheBudgetAndTheNextStepContinuesFromIt() {
        BudgetRule rule = new BudgetRule(0.75, 0, 4, 0);
        HeavyHitterCache cache = new HeavyHitterCache(3, 2, rule, 0.5);
        cache.syntheticFill(1, 3, 1000, 42, new TopKSelection(1000));
        int[] kept = cache.kept(2, 1);
        assertEquals(rule.keep(999), kept.length);
        for (int t = 0; t < 4; t++) assertEquals(t, kept[t]);
        assertEquals(999, kept[kept.length - 1]);
        int[] out = new int[1001];
        int n = cache.step(2, 1, 1000, out);
        assertEquals(rule.keep(1000), n);
        assertEquals(1000, out[n - 1]);
    }
}
