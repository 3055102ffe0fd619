package io.github.tokenbutler.plugin.selection;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class TopKSelectionTest {
    private static int[] fast(float[] scores, int from, int to, int k) {
        TopKSelection sel = new TopKSelection(0);
        int[] out = new int[Math.max(1, to - from)];
        int n = sel.select(scores, from, to, k, out, 0);
        return Arrays.copyOf(out, n);
    }

    private static int[] reference(float[] scores, int from, int to, int k) {
        int[] out = new int[Math.max(1, to - from)];
        int n = TopKSelection.selectReference(scores, from, to, k, out, 0);
        return Arrays.copyOf(out, n);
    }

    private static void assertSameAsReference(float[] scores, int from, int to, int k, String what) {
        assertArrayEquals(reference(scores, from, to, k), fast(scores, from, to, k), what + " n=" + (to - from) + " k=" + k);
    }

    @Test
    void matchesFullSortOnRandomRowsOfManySizesOnBothPaths() {
        Random rnd = new Random(1);
        for (int n : new int[]{1, 2, 5, 17, 100, 1023, 1024, 1025, 3000, 16383, 16384, 40000}) {
            float[] s = new float[n + 7];
            for (int i = 0; i < s.length; i++) s[i] = (float) rnd.nextGaussian();
            for (int k : new int[]{0, 1, 2, n / 10, n / 4, n / 2, 3 * n / 4, n - 1, n, n + 3}) {
                assertSameAsReference(s, 3, 3 + n, k, "gaussian");
            }
        }
    }

    @Test
    void longRowsWhoseBandIsNarrowedAgainMatchTheFullSort() {
        // 200,000 positions: the band between the sample's quantiles holds tens of thousands of values, which are
        // narrowed by a second (and third) sample before quickselect.
        Random rnd = new Random(7);
        int n = 200_000;
        float[] gaussian = new float[n], heavyTailed = new float[n], fewValues = new float[n];
        for (int i = 0; i < n; i++) {
            gaussian[i] = (float) rnd.nextGaussian();
            heavyTailed[i] = (float) Math.exp(4 * rnd.nextGaussian());
            fewValues[i] = rnd.nextInt(40) / 8f;
        }
        for (float[] row : new float[][]{gaussian, heavyTailed, fewValues}) {
            for (int k : new int[]{1, 5000, 50_000, 100_000, 150_000, 199_999}) assertSameAsReference(row, 0, n, k, "long row");
        }
    }

    @Test
    void narrowingBracketsThatMissAreWidenedAndStillGiveTheExactAnswer() {
        // The band's narrowing brackets are cut at 2.5 standard deviations, so about one in a hundred misses the rank
        // and is tried again wider: many rows and ranks make sure that path runs.
        Random rnd = new Random(9);
        TopKSelection sel = new TopKSelection(0);
        int n = 6000;
        float[] s = new float[n];
        int[] out = new int[n];
        for (int trial = 0; trial < 150; trial++) {
            for (int i = 0; i < n; i++) s[i] = (float) (trial % 3 == 0 ? rnd.nextGaussian() : trial % 3 == 1 ? Math.exp(3 * rnd.nextGaussian()) : rnd.nextInt(700));
            int k = 1 + rnd.nextInt(n - 1);
            int written = sel.select(s, 0, n, k, out, 0);
            assertArrayEquals(reference(s, 0, n, k), Arrays.copyOf(out, written), "trial " + trial + " k=" + k);
        }
        assertTrue(sel.narrowMisses > 0, "no narrowing bracket missed: the retry path did not run");
    }

    @Test
    void anOutputArrayOfExactlyTheSelectionsSizeIsNotOverrun() {
        // The sampled path stores whole vectors of positions; at the end of out it must store one at a time.
        Random rnd = new Random(8);
        float[] s = new float[5000];
        for (int i = 0; i < s.length; i++) s[i] = (float) rnd.nextGaussian();
        for (int k : new int[]{1000, 1237, 2500}) {
            int[] out = new int[3 + k];
            int written = new TopKSelection(0).select(s, 0, s.length, k, out, 3);
            assertEquals(k, written);
            assertArrayEquals(reference(s, 0, s.length, k), Arrays.copyOfRange(out, 3, 3 + k), "k=" + k);
        }
    }

    @Test
    void theSampledPathRarelyFallsBackOnOrdinaryRows() {
        Random rnd = new Random(6);
        TopKSelection sel = new TopKSelection(0);
        float[] s = new float[32768];
        int[] out = new int[s.length];
        int rows = 0;
        for (int trial = 0; trial < 40; trial++) {
            for (int i = 0; i < s.length; i++) s[i] = (float) (trial % 2 == 0 ? rnd.nextGaussian() : Math.exp(3 * rnd.nextGaussian()));
            for (int k : new int[]{8192, 16384, 1000, 30000}) {
                sel.select(s, 0, s.length, k, out, 0);
                rows++;
            }
        }
        assertTrue(sel.sampleMisses <= rows / 20, sel.sampleMisses + " of " + rows + " rows missed the sample's bracket");
    }

    @Test
    void tiesKeepTheEarlierPosition() {
        float[] constant = new float[3000];
        Arrays.fill(constant, 0.25f);
        int[] got = fast(constant, 0, 3000, 700);
        for (int j = 0; j < 700; j++) assertEquals(j, got[j]);

        float[] s = {1, 3, 3, 2, 3, 1};
        assertArrayEquals(new int[]{1, 2}, fast(s, 0, 6, 2));
        assertArrayEquals(new int[]{1, 2, 3, 4}, fast(s, 0, 6, 4));

        // Few distinct values: many ties around the threshold, on the sampled path.
        Random rnd = new Random(2);
        float[] few = new float[20000];
        for (int i = 0; i < few.length; i++) few[i] = rnd.nextInt(5);
        for (int k : new int[]{1, 3999, 4000, 4001, 10000, 19999}) assertSameAsReference(few, 0, few.length, k, "five values");
    }

    @Test
    void nanRanksBelowEverythingAndNegativeZeroEqualsZero() {
        float[] s = {Float.NaN, -0.0f, 0.0f, Float.NEGATIVE_INFINITY, -1f, Float.NaN, Float.POSITIVE_INFINITY};
        for (int k = 0; k <= s.length; k++) assertSameAsReference(s, 0, s.length, k, "specials");
        assertArrayEquals(new int[]{1, 2, 6}, fast(s, 0, s.length, 3));
        assertArrayEquals(new int[]{0, 1, 2, 4, 6}, fast(s, 0, s.length, 5), "NaN ties with -inf, the earlier first");
        assertArrayEquals(new int[]{0, 1, 2, 3, 4, 6}, fast(s, 0, s.length, 6));

        Random rnd = new Random(3);
        float[] big = new float[5000];
        for (int i = 0; i < big.length; i++) {
            int r = rnd.nextInt(10);
            big[i] = r == 0 ? Float.NaN : r == 1 ? Float.NEGATIVE_INFINITY : r == 2 ? -0.0f : r == 3 ? 0.0f : (float) rnd.nextGaussian();
        }
        for (int k : new int[]{1, 100, 2500, 4000, 4500, 4999}) assertSameAsReference(big, 0, big.length, k, "mixed specials");
    }

    @Test
    void rowsThatDefeatTheSampleStillGiveTheExactAnswer() {
        int n = 20000;
        float[] ascending = new float[n], descending = new float[n], periodic = new float[n], spike = new float[n];
        for (int i = 0; i < n; i++) {
            ascending[i] = i;
            descending[i] = -i;
            // Same value at every sample point (stride n/128 or n/256), different in between.
            periodic[i] = (i % 78 == 39) ? 0f : (float) Math.sin(i);
            spike[i] = i % 1000 == 0 ? 1e30f : 0f;
        }
        for (float[] row : new float[][]{ascending, descending, periodic, spike}) {
            for (int k : new int[]{1, 19, 20, 21, 500, 5000, 10000, 19990}) assertSameAsReference(row, 0, n, k, "adversarial");
        }
    }

    @Test
    void selectionsAreNestedAndAscending() {
        Random rnd = new Random(4);
        float[] s = new float[2500];
        for (int i = 0; i < s.length; i++) s[i] = rnd.nextInt(50);
        int[] previous = new int[0];
        for (int k = 0; k <= s.length; k += 97) {
            int[] got = fast(s, 0, s.length, k);
            for (int j = 1; j < got.length; j++) assertTrue(got[j - 1] < got[j]);
            for (int t : previous) assertTrue(Arrays.binarySearch(got, t) >= 0, "top-" + k + " contains the smaller selection's " + t);
            previous = got;
        }
    }

    @Test
    void quickselectFindsTheValueAtEveryRank() {
        Random rnd = new Random(5);
        for (int n : new int[]{1, 3, 16, 17, 100, 4097}) {
            float[] a = new float[n];
            for (int i = 0; i < n; i++) a[i] = rnd.nextInt(Math.max(1, n / 3));
            float[] sorted = a.clone();
            Arrays.sort(sorted);
            for (int r = 0; r < n; r += Math.max(1, n / 13)) {
                float[] copy = a.clone();
                assertEquals(sorted[r], TopKSelection.valueOfRank(copy, 0, n, r), "n=" + n + " rank=" + r);
            }
        }
    }
}
