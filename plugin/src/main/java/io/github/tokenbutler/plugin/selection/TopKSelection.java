package io.github.tokenbutler.plugin.selection;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * The k highest-scoring positions of a score row, returned in ascending position order, without sorting the
 * row.
 *
 * <p>Order: a higher score ranks first; equal scores rank the earlier position first (so a selection of k
 * always contains the selection of any smaller k, and the oracle's top-50% set, which is computed with the
 * same order, is contained in an oracle selection of at least that size). NaN ranks as -infinity (a broken
 * score must never displace a real one) and -0.0 equals 0.0.
 *
 * <p>How: find the value T of the k-th highest score, then emit, in one ascending pass, every position
 * scoring above T and the earliest positions scoring exactly T until k are out. T comes from one of:
 * <ul>
 *   <li>the sampled path (rows of {@value #EXACT_BELOW} or more): a strided sample of the row brackets T
 *       between two sample quantiles lo and hi; one vectorized pass collects the positions scoring at least
 *       lo (a little more than k of them) and counts those above hi; T is then the right order statistic of
 *       the few values between lo and hi. When the bracket misses (a rare, unlucky sample) it falls back to:</li>
 *   <li>the exact path: quickselect on a copy of the whole row.</li>
 * </ul>
 * {@link #selectReference} is the plain full sort every path is tested against.
 *
 * <p>An instance holds scratch buffers and is not thread-safe: one per worker thread.
 */
public final class TopKSelection {
    /** Rows shorter than this go straight to quickselect: the sample would cost as much as it saves. */
    static final int EXACT_BELOW = 1024;
    private static final int SMALL_SAMPLE = 128, LARGE_SAMPLE = 256, LARGE_SAMPLE_FROM = 16384;
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private final float[] sample = new float[LARGE_SAMPLE];
    private float[] values = new float[0];
    private int[] positions = new int[0];
    private float[] band = new float[0];
    /** Sampled selections whose bracket missed and that went to the exact path (tests check it stays rare). */
    long sampleMisses;

    /** Scratch sized for rows of up to {@code capacity} positions (grown on demand). */
    public TopKSelection(int capacity) { ensureCapacity(capacity); }

    public void ensureCapacity(int capacity) {
        if (values.length < capacity) {
            values = new float[capacity];
            positions = new int[capacity];
        }
    }

    /**
     * Writes the min(k, to-from) best positions of scores[from..to) in ascending order to out[outOff..].
     * @return how many positions were written
     */
    public int select(float[] scores, int from, int to, int k, int[] out, int outOff) {
        int n = to - from;
        if (k <= 0 || n <= 0) return 0;
        if (k >= n) {
            for (int t = from; t < to; t++) out[outOff++] = t;
            return n;
        }
        ensureCapacity(n);
        if (n < EXACT_BELOW) {
            selectExact(scores, from, to, k, out, outOff);
        } else if (!selectSampled(scores, from, to, k, out, outOff)) {
            sampleMisses++;
            selectExact(scores, from, to, k, out, outOff);
        }
        return k;
    }

    /** NaN ranks as -infinity. */
    private static float rank(float v) { return v != v ? Float.NEGATIVE_INFINITY : v; }

    private void selectExact(float[] scores, int from, int to, int k, int[] out, int outOff) {
        int n = to - from;
        float[] v = values;
        for (int j = 0; j < n; j++) v[j] = rank(scores[from + j]);
        float threshold = valueOfRank(v, 0, n, n - k);
        int above = 0;
        for (int j = 0; j < n; j++) above += v[j] > threshold ? 1 : 0;
        int ties = k - above;
        for (int t = from; t < to; t++) {
            float s = rank(scores[t]);
            if (s > threshold) {
                out[outOff++] = t;
            } else if (s == threshold && ties > 0) {
                out[outOff++] = t;
                ties--;
            }
        }
    }

    /** @return false when the sample's bracket missed the k-th value; nothing useful was written then. */
    private boolean selectSampled(float[] scores, int from, int to, int k, int[] out, int outOff) {
        int n = to - from;
        int m = n >= LARGE_SAMPLE_FROM ? LARGE_SAMPLE : SMALL_SAMPLE;
        // Midpoints of m equal strides: deterministic, and spread over the whole row (scores drift with position).
        for (int j = 0; j < m; j++) sample[j] = rank(scores[from + (int) (((2L * j + 1) * n) / (2L * m))]);
        Arrays.sort(sample, 0, m);
        // The k-th highest of the row sits near sample index m - f*m; the bracket spans 3 standard deviations of
        // that index's binomial spread on each side, so it holds T except for rare samples.
        double f = (double) k / n;
        int center = m - (int) Math.round(f * m);
        int margin = (int) Math.ceil(3 * Math.sqrt(m * f * (1 - f))) + 2;
        float lo = sample[Math.max(0, center - margin)];
        float hi = sample[Math.min(m - 1, center + margin)];
        // A NaN counts as -infinity but fails the vector comparison below, so a bracket reaching -infinity is
        // left to the exact path.
        if (lo == Float.NEGATIVE_INFINITY) return false;

        float[] candValues = values;
        int[] candPositions = positions;
        int c = 0, above = 0;
        int t = from;
        int bound = from + SPECIES.loopBound(n);
        for (; t < bound; t += SPECIES.length()) {
            FloatVector v = FloatVector.fromArray(SPECIES, scores, t);
            above += v.compare(VectorOperators.GT, hi).trueCount();
            long bits = v.compare(VectorOperators.GE, lo).toLong();
            while (bits != 0) {
                int lane = Long.numberOfTrailingZeros(bits);
                candPositions[c] = t + lane;
                candValues[c] = scores[t + lane];
                c++;
                bits &= bits - 1;
            }
        }
        for (; t < to; t++) {
            float s = scores[t];
            above += s > hi ? 1 : 0;
            candPositions[c] = t;
            candValues[c] = s;
            c += s >= lo ? 1 : 0;
        }
        if (c < k || above > k) return false;

        // The band lo <= s <= hi holds T: it is the (k - above)-th highest band value. The band is copied out
        // because quickselect reorders it, and the candidates must stay in position order for the emission.
        int need = k - above;
        float threshold;
        int ties;
        if (need == 0) {
            threshold = hi;
            ties = 0;
        } else {
            float[] band = bandScratch(c);
            int b = 0;
            for (int j = 0; j < c; j++) {
                float s = candValues[j];
                band[b] = s;
                b += s <= hi ? 1 : 0;
            }
            threshold = valueOfRank(band, 0, b, b - need);
            int aboveThreshold = above;
            for (int j = 0; j < b; j++) aboveThreshold += band[j] > threshold ? 1 : 0;
            ties = k - aboveThreshold;
        }
        for (int j = 0; j < c; j++) {
            float s = candValues[j];
            if (s > threshold) {
                out[outOff++] = candPositions[j];
            } else if (s == threshold && ties > 0) {
                out[outOff++] = candPositions[j];
                ties--;
            }
        }
        return true;
    }

    private float[] bandScratch(int n) {
        if (band.length < n) band = new float[Math.max(n, values.length)];
        return band;
    }

    /**
     * The value that would sit at index {@code rank} if a[lo..hi) were sorted ascending (quickselect; a[lo..hi)
     * is reordered). Falls back to a full sort of the remaining range when the pivots keep splitting badly, so
     * the worst case stays O(n log n).
     */
    static float valueOfRank(float[] a, int lo, int hi, int rank) {
        int badSplitsLeft = 2 * (32 - Integer.numberOfLeadingZeros(hi - lo)) + 4;
        while (hi - lo > 16) {
            if (badSplitsLeft-- == 0) {
                Arrays.sort(a, lo, hi);
                return a[rank];
            }
            // Median of three moved to a[lo]: Hoare's partition with the pivot at the front always splits
            // into two non-empty parts, and handles runs of equal values evenly.
            int mid = (lo + hi) >>> 1;
            medianToFront(a, lo, mid, hi - 1);
            float pivot = a[lo];
            int i = lo - 1, j = hi;
            while (true) {
                do i++; while (a[i] < pivot);
                do j--; while (a[j] > pivot);
                if (i >= j) break;
                float x = a[i]; a[i] = a[j]; a[j] = x;
            }
            // Now a[lo..j] <= pivot <= a[j+1..hi).
            if (rank <= j) hi = j + 1; else lo = j + 1;
        }
        for (int i = lo + 1; i < hi; i++) {
            float x = a[i];
            int j = i - 1;
            while (j >= lo && a[j] > x) { a[j + 1] = a[j]; j--; }
            a[j + 1] = x;
        }
        return a[rank];
    }

    private static void medianToFront(float[] a, int first, int mid, int last) {
        float x = a[first], y = a[mid], z = a[last];
        int m = (x < y) ? ((y < z) ? mid : (x < z ? last : first)) : ((x < z) ? first : (y < z ? last : mid));
        float t = a[first]; a[first] = a[m]; a[m] = t;
    }

    /**
     * The plain reference: sorts all positions of scores[from..to) by (score descending, position ascending),
     * keeps the first k and writes them ascending. Allocates; for tests.
     */
    public static int selectReference(float[] scores, int from, int to, int k, int[] out, int outOff) {
        int n = Math.max(0, to - from);
        Integer[] order = new Integer[n];
        for (int j = 0; j < n; j++) order[j] = from + j;
        Arrays.sort(order, (a, b) -> {
            float sa = rank(scores[a]), sb = rank(scores[b]);
            if (sa > sb) return -1;
            if (sa < sb) return 1;
            return Integer.compare(a, b);
        });
        int kept = Math.max(0, Math.min(k, n));
        int[] chosen = new int[kept];
        for (int j = 0; j < kept; j++) chosen[j] = order[j];
        Arrays.sort(chosen);
        System.arraycopy(chosen, 0, out, outOff, kept);
        return kept;
    }
}
