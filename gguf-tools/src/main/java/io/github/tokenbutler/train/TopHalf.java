package io.github.tokenbutler.train;

/**
 * The hit-rate of one query row, as the eval command defines it (docs/EVALUATION.md, "hit_rate"): O = the
 * ceil(m/2) keys with the highest true logit among the m visible keys; the predictor's selection = the
 * ceil(m/2) keys with the highest predicted logit; hit-rate = |selected ∩ O| / |O|. The eval command's
 * number also carries the plugin's sinks and rounding of k; this is the predictor's own ranking quality.
 */
public final class TopHalf {
    private TopHalf() {}

    /** |top(pred) ∩ top(truth)| / k over keys 0..m-1, k = ceil(m/2); scratch holds at least m values. */
    public static double hitRate(double[] truth, double[] pred, int m, double[] scratch) {
        int k = (m + 1) / 2;
        double trueCut = kthLargest(truth, m, k, scratch), predCut = kthLargest(pred, m, k, scratch);
        int hits = 0;
        for (int j = 0; j < m; j++) if (truth[j] >= trueCut && pred[j] >= predCut) hits++;
        return (double) Math.min(hits, k) / k;
    }

    /** The k-th largest of a[0..m) (k >= 1), by quickselect on a copy in scratch (a is left as it is). */
    static double kthLargest(double[] a, int m, int k, double[] scratch) {
        System.arraycopy(a, 0, scratch, 0, m);
        int lo = 0, hi = m - 1, target = k - 1; // index in descending order
        while (lo < hi) {
            double pivot = scratch[(lo + hi) >>> 1];
            int i = lo, j = hi;
            while (i <= j) {
                while (scratch[i] > pivot) i++;
                while (scratch[j] < pivot) j--;
                if (i <= j) { double t = scratch[i]; scratch[i] = scratch[j]; scratch[j] = t; i++; j--; }
            }
            if (target <= j) hi = j;
            else if (target >= i) lo = i;
            else return scratch[target];
        }
        return scratch[target];
    }
}
