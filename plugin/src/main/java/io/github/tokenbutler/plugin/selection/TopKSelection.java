package io.github.tokenbutler.plugin.selection;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
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
 *       between two sample quantiles lo and hi; one vectorized pass counts the scores above hi and packs those
 *       between lo and hi (a fifth of the row or less); T is then the right order statistic of that band, and a
 *       second vectorized pass packs the positions. When the bracket misses (a rare, unlucky sample) it falls
 *       back to:</li>
 *   <li>the exact path: quickselect on a copy of the whole row.</li>
 * </ul>
 * {@link #selectReference} is the plain full sort every path is tested against.
 *
 * <p>An instance holds scratch buffers and is not thread-safe: one per worker thread.
 */
public final class TopKSelection {
    /** Rows shorter than this go straight to quickselect: the sample would cost as much as it saves. */
    static final int EXACT_BELOW = 1024;
    /** Bands longer than this are narrowed with a sample of {@value #SMALL_SAMPLE}, shorter ones with {@value #NARROW_SAMPLE}. */
    private static final int NARROW_ABOVE = 1024;
    /** Bands are narrowed until this many values are left for quickselect. */
    private static final int QUICKSELECT_BELOW = 96;
    private static final int SMALL_SAMPLE = 128, LARGE_SAMPLE = 256, LARGE_SAMPLE_FROM = 16384, NARROW_SAMPLE = 64;
    /** A narrowing bracket's half-width, in standard deviations of the sample index. */
    private static final double NARROW_SPREAD = 2.5;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Positions are packed with the same lane count as the scores they come from. */
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final int LANES = F.length();

    private final float[] sample = new float[LARGE_SAMPLE];
    private float[] values = new float[0];
    private float[] band = new float[0], narrowedA = new float[0], narrowedB = new float[0];
    /** Sampled selections whose bracket missed and that went to the exact path (tests check it stays rare). */
    long sampleMisses;
    /** Narrowing brackets that missed the rank and were widened (tests check the retry gives the exact answer). */
    long narrowMisses;

    /** Scratch sized for rows of up to {@code capacity} positions (grown on demand). */
    public TopKSelection(int capacity) { ensureCapacity(capacity); }

    public void ensureCapacity(int capacity) {
        if (values.length < capacity) values = new float[capacity];
    }

    /**
     * Writes the min(k, to-from) best positions of scores[from..to) in ascending order to out[outOff..].
     * Whole vectors are stored, so up to one vector's lanes after the last position written may be overwritten
     * (within out's length): callers write what follows afterwards.
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
        // A NaN counts as -infinity but fails every vector comparison, so a bracket reaching -infinity is left to
        // the exact path; with lo above -infinity, a NaN is below T and is never counted, banded or emitted.
        if (lo == Float.NEGATIVE_INFINITY) return false;

        // One pass: count the scores above hi and pack the band lo <= s <= hi (it holds T) into band[].
        float[] band = bandScratch(n + LANES);
        if (narrowedA.length < n + LANES) {
            // A narrowed band is smaller than the band, which is smaller than the row.
            narrowedA = new float[n + LANES];
            narrowedB = new float[n + LANES];
        }
        long packed = packBand(scores, from, to, lo, hi, band);
        int above = (int) (packed >>> 32), b = (int) packed;
        if (above > k || above + b < k) return false;

        // T is the (k - above)-th highest band value.
        int need = k - above;
        float threshold;
        int ties;
        if (need == 0) {
            threshold = hi;
            ties = 0;
        } else {
            threshold = valueOfRankSampled(band, b, b - need);
            ties = k - above - countAbove(band, b, threshold);
        }
        emit(scores, from, to, threshold, ties, out, outOff);
        return true;
    }

    /**
     * The value at ascending rank r of band[0..n) (no NaN), as {@link #valueOfRank} gives it. The band is narrowed the
     * way the row was, again and again: a sample brackets the rank and one vectorized pass packs the values between
     * (into the two narrowing arrays in turn, so band keeps its values), until quickselect has at most
     * {@value #QUICKSELECT_BELOW} values left. Quickselect is scalar and mispredicts about every other comparison:
     * stopping at a thousand values, this step took 9.7-9.9 us of a 32K selection's 30, and 4.2-4.3 us this way
     * (quiet machine, one thread). The bracket is cut tighter than the row's (two and a half standard deviations),
     * and a miss widens it and retries from the same values. Quickselect reorders whichever array it ends on.
     */
    private float valueOfRankSampled(float[] band, int n, int r) {
        float[] a = band;
        double spread = NARROW_SPREAD;
        while (n > QUICKSELECT_BELOW) {
            int m = n >= NARROW_ABOVE ? SMALL_SAMPLE : NARROW_SAMPLE;
            for (int j = 0; j < m; j++) sample[j] = a[(int) (((2L * j + 1) * n) / (2L * m))];
            Arrays.sort(sample, 0, m);
            double f = (r + 0.5) / n;
            int center = (int) Math.floor(f * m);
            int margin = (int) Math.ceil(spread * Math.sqrt(m * f * (1 - f))) + 1;
            float lo = sample[Math.max(0, center - margin)], hi = sample[Math.min(m - 1, center + margin)];
            float[] into = a == narrowedA ? narrowedB : narrowedA;
            long packed = packBand(a, 0, n, lo, hi, into);
            int b = (int) packed, below = n - b - (int) (packed >>> 32);   // a band holds no NaN
            if (b >= n) break;   // no progress (runs of equal values): quickselect what is left
            if (below > r || below + b <= r) {
                // missed: the same values again with a wider bracket; after three widenings (the bracket is then most of
                // the sample) quickselect takes what is left
                narrowMisses++;
                if (spread > 4 * NARROW_SPREAD) break;
                spread *= 2;
                continue;
            }
            a = into;
            r -= below;
            n = b;
            spread = NARROW_SPREAD;
        }
        return valueOfRank(a, 0, n, r);
    }

    /**
     * Packs the values lo <= v <= hi of a[from..to) into into[0..] in order (whole vectors are stored, so into needs
     * a vector's lanes to spare) and counts the values above hi; a NaN is neither.
     * @return (count above hi) << 32 | (count packed)
     */
    private static long packBand(float[] a, int from, int to, float lo, float hi, float[] into) {
        int above = 0, b = 0, t = from;
        for (int bound = from + F.loopBound(to - from); t < bound; t += LANES) {
            FloatVector v = FloatVector.fromArray(F, a, t);
            VectorMask<Float> overHi = v.compare(VectorOperators.GT, hi);
            VectorMask<Float> inBand = v.compare(VectorOperators.GE, lo).andNot(overHi);
            // counts through longs, as in emit (this pass over a 32K row, timed inside select on one thread: 5.5 -> 4.2-4.6 us)
            above += Long.bitCount(overHi.toLong());
            v.compress(inBand).intoArray(into, b);
            b += Long.bitCount(inBand.toLong());
        }
        for (; t < to; t++) {
            float x = a[t];
            above += x > hi ? 1 : 0;
            into[b] = x;
            b += x >= lo && x <= hi ? 1 : 0;
        }
        return (long) above << 32 | b;
    }

    /** The number of a[0..n) above x (a holds no NaN). */
    private static int countAbove(float[] a, int n, float x) {
        int count = 0, j = 0;
        for (int bound = F.loopBound(n); j < bound; j += LANES) count += FloatVector.fromArray(F, a, j).compare(VectorOperators.GT, x).trueCount();
        for (; j < n; j++) count += a[j] > x ? 1 : 0;
        return count;
    }

    /**
     * Writes, ascending, every position of scores[from..to) above the threshold and the first {@code ties}
     * positions equal to it. Positions are packed a vector at a time, without a branch per position.
     */
    private static void emit(float[] scores, int from, int to, float threshold, int ties, int[] out, int outOff) {
        int o = outOff, t = from;
        int bound = from + F.loopBound(to - from);
        IntVector lanes = IntVector.zero(I).addIndex(1);
        for (; t < bound; t += LANES) {
            FloatVector v = FloatVector.fromArray(F, scores, t);
            // The masks go through longs: a mask that is either of two values after a branch was boxed by C2
            // (boolean[] allocations in the profile; a 32K emit took 12-13 us, now 4.5).
            long keep = v.compare(VectorOperators.GT, threshold).toLong();
            if (ties > 0) {
                long equal = v.compare(VectorOperators.EQ, threshold).toLong();
                // Only the earliest `ties` equal positions go in.
                while (Long.bitCount(equal) > ties) equal &= ~Long.highestOneBit(equal);
                ties -= Long.bitCount(equal);
                keep |= equal;
            }
            if (o + LANES <= out.length) {
                lanes.add(t).compress(VectorMask.fromLong(I, keep)).intoArray(out, o);
                o += Long.bitCount(keep);
            } else {
                // Near the end of out, a whole-vector store would not fit: one position at a time.
                for (long bits = keep; bits != 0; bits &= bits - 1) out[o++] = t + Long.numberOfTrailingZeros(bits);
            }
        }
        for (; t < to; t++) {
            float s = scores[t];
            if (s > threshold) {
                out[o++] = t;
            } else if (s == threshold && ties > 0) {
                out[o++] = t;
                ties--;
            }
        }
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
