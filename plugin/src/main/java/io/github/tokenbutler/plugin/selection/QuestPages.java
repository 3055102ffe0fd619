package io.github.tokenbutler.plugin.selection;

import io.github.tokenbutler.runtime.Llama3.KvRows;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Quest's page metadata (Tang et al., 2024): the key cache cut into pages of {@code pageSize} positions, and per
 * page and KV head the per-channel minimum and maximum of the keys. For a query q the page's upper bound
 * Σ_c max(q_c·min_c, q_c·max_c) is at least q·k for every key k in the page, so ranking pages by it keeps
 * the pages that may hold the highest logits.
 *
 * <p>Full pages are built once from the runtime's key cache ({@link #update}); the page holding the current
 * position is still filling, so its bound is computed from its rows up to that position on every query,
 * which keeps a batched call identical to decoding token by token.
 *
 * <p>Layout per layer: [page][kvHead][headSize] for min and for max. Not thread-safe for {@link #update};
 * {@link #scoreTokens} only reads and may run from several threads.
 */
public final class QuestPages {
    public static final int DEFAULT_PAGE_SIZE = 16;
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private final int pageSize, nKvHeads, headSize, kvDim;
    private final float[][] min, max;
    private final int[] builtPages;

    public QuestPages(int nLayers, int nKvHeads, int headSize, int pageSize) {
        if (pageSize <= 0) throw new IllegalArgumentException("page size must be positive, got " + pageSize);
        this.pageSize = pageSize;
        this.nKvHeads = nKvHeads;
        this.headSize = headSize;
        this.kvDim = nKvHeads * headSize;
        this.min = new float[nLayers][0];
        this.max = new float[nLayers][0];
        this.builtPages = new int[nLayers];
    }

    public int pageSize() { return pageSize; }

    /** A new sequence: every page is stale. */
    public void reset() { Arrays.fill(builtPages, 0); }

    /** Builds every not yet built page of {@code layer} whose positions all lie below {@code end}. */
    public void update(int layer, KvRows keyCache, int end) {
        int full = end / pageSize;
        if (full <= builtPages[layer]) return;
        int needed = full * kvDim;
        if (min[layer].length < needed) {
            int size = Math.max(needed, 2 * min[layer].length);
            min[layer] = Arrays.copyOf(min[layer], size);
            max[layer] = Arrays.copyOf(max[layer], size);
        }
        float[] lo = min[layer], hi = max[layer], row = new float[headSize];
        for (int page = builtPages[layer]; page < full; page++) {
            for (int h = 0; h < nKvHeads; h++) {
                int off = (page * nKvHeads + h) * headSize;
                pageMinMax(keyCache, h * headSize, headSize, page * pageSize, page * pageSize + pageSize - 1, lo, hi, off, off, row, 0);
            }
        }
        builtPages[layer] = full;
    }

    /**
     * Scores the keys from..to-1 (to-1 ≤ p) of one KV head for one query: each key gets the upper bound of its
     * page, where pages end at the current position p. Ties inside a page then resolve to earlier positions,
     * so a top-k over these scores takes whole pages in bound order and the earliest keys of the last page.
     * @param pageScratch at least 3*headSize floats (the partial page's min and max, and one key row)
     */
    public void scoreTokens(int layer, int kvHead, float[] q, int qOff, KvRows keyCache, int p, int from, int to,
                            float[] scores, float[] pageScratch) {
        int kvOff = kvHead * headSize;
        for (int page = from / pageSize; page * pageSize < to; page++) {
            int first = page * pageSize, last = Math.min(first + pageSize - 1, p);
            float bound;
            if (last == first + pageSize - 1 && page < builtPages[layer]) {
                bound = bound(q, qOff, min[layer], max[layer], (page * nKvHeads + kvHead) * headSize, headSize);
            } else {
                pageMinMax(keyCache, kvOff, headSize, first, last, pageScratch, pageScratch, 0, headSize, pageScratch, 2 * headSize);
                bound = bound(q, qOff, pageScratch, pageScratch, 0, headSize, headSize);
            }
            Arrays.fill(scores, Math.max(first, from), Math.min(last + 1, to), bound);
        }
    }

    /** Per-channel min into lo[loOff..], max into hi[hiOff..] over key rows first..last, each read into row[rowOff..] (headSize floats). */
    static void pageMinMax(KvRows keyCache, int kvOff, int headSize, int first, int last,
                           float[] lo, float[] hi, int loOff, int hiOff, float[] row, int rowOff) {
        keyCache.read(first, kvOff, headSize, lo, loOff);
        System.arraycopy(lo, loOff, hi, hiOff, headSize);
        for (int t = first + 1; t <= last; t++) {
            keyCache.read(t, kvOff, headSize, row, rowOff);
            for (int c = 0; c < headSize; c++) {
                float k = row[rowOff + c];
                lo[loOff + c] = Math.min(lo[loOff + c], k);
                hi[hiOff + c] = Math.max(hi[hiOff + c], k);
            }
        }
    }

    /** Σ_c max(q_c·min_c, q_c·max_c) with min and max at the same offset of their arrays. */
    public static float bound(float[] q, int qOff, float[] lo, float[] hi, int off, int headSize) {
        return bound(q, qOff, lo, hi, off, off, headSize);
    }

    /** Σ_c max(q_c·lo_c, q_c·hi_c), vectorized: the order of the additions is free here (a ranking, not a logit). */
    static float bound(float[] q, int qOff, float[] lo, float[] hi, int loOff, int hiOff, int headSize) {
        int c = 0;
        float sum = 0f;
        int vectorEnd = SPECIES.loopBound(headSize);
        if (vectorEnd > 0) {
            FloatVector acc = FloatVector.zero(SPECIES);
            for (; c < vectorEnd; c += SPECIES.length()) {
                FloatVector qv = FloatVector.fromArray(SPECIES, q, qOff + c);
                FloatVector a = qv.mul(FloatVector.fromArray(SPECIES, lo, loOff + c));
                FloatVector b = qv.mul(FloatVector.fromArray(SPECIES, hi, hiOff + c));
                acc = acc.add(a.max(b));
            }
            sum = acc.reduceLanes(VectorOperators.ADD);
        }
        for (; c < headSize; c++) sum += Math.max(q[qOff + c] * lo[loOff + c], q[qOff + c] * hi[hiOff + c]);
        return sum;
    }

    /** The plain reference of the bound of keys first..last: min/max by a scalar loop, the sum in double. */
    public static double boundReference(float[] q, int qOff, float[] keyCache, int kvDim, int kvOff, int headSize, int first, int last) {
        double sum = 0;
        for (int c = 0; c < headSize; c++) {
            float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
            for (int t = first; t <= last; t++) {
                lo = Math.min(lo, keyCache[t * kvDim + kvOff + c]);
                hi = Math.max(hi, keyCache[t * kvDim + kvOff + c]);
            }
            sum += Math.max((double) q[qOff + c] * lo, (double) q[qOff + c] * hi);
        }
        return sum;
    }
}
