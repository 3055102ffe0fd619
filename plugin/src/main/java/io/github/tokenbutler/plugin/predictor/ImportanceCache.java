package io.github.tokenbutler.plugin.predictor;

/**
 * The importance-key cache of one sequence: the rotated importance key of every past position for every
 * (layer, head) of the base model, in the chosen {@link KeyPrecision}, and the importance queries of the last
 * step's tokens; it turns them into predicted attention logits. It is filled by a {@link PredictorStep} on the
 * CPU, or, when the CPU takes a sequence over from a device, with what the device held.
 *
 * <p>{@link #scores} and {@link #groupScores} only read and may run from many threads at once (one per head);
 * writes must not run concurrently with anything.
 */
public final class ImportanceCache {
    private final PredictorConfig c;
    private final BlockedVectorStore keys;
    private final float scoreScale;
    private int length;
    private float[] queries = new float[0];
    private int queryCount;

    ImportanceCache(PredictorConfig config, int maxPositions, KeyPrecision precision) {
        this.c = config;
        this.keys = BlockedVectorStore.create(precision, config.modelLayers() * config.modelHeads(), config.dPrime(), maxPositions);
        this.scoreScale = (float) (1.0 / Math.sqrt(config.dPrime()));
    }

    /** Forgets positions startPos and later (no queries until the next {@link #put}) and makes room for n more. */
    void truncate(int startPos, int n) {
        length = startPos;
        queryCount = 0;
        if (n > 0) keys.ensureCapacity(startPos + n);
    }

    /** Stores the keys of positions startPos..startPos+n-1 and keeps their queries (not copied): [n][L·H·d'] each. */
    void put(int startPos, int n, float[] qi, float[] ki) {
        int dp = c.dPrime(), dim = c.importanceDim(), groups = c.modelLayers() * c.modelHeads();
        for (int t = 0; t < n; t++) {
            for (int g = 0; g < groups; g++) keys.put(g, startPos + t, ki, t * dim + g * dp);
        }
        queries = qi;
        queryCount = n;
        length = startPos + n;
    }

    /** The keys of positions [0, length) were written into the store's raw arrays; the queries are kept (not copied). */
    void restore(int length, float[] qi, int queryCount) {
        this.length = length;
        this.queries = qi;
        this.queryCount = queryCount;
    }

    /**
     * Predicted attention logits q_i·k_j/sqrt(d') of query token i of the last step (position startPos+i) for
     * base-model layer `layer` and query head `head`, over key positions 0..count-1, into scores[0..count).
     */
    public void scores(int i, int layer, int head, int count, float[] scores) {
        check(i, layer, head, c.modelHeads(), count);
        int g = layer * c.modelHeads() + head;
        keys.dotScores(g, queries, i * c.importanceDim() + g * c.dPrime(), count, scoreScale, scores);
    }

    /** As {@link #scores}, for one selection shared by the query heads of KV head `kvHead` (their mean importance query). */
    public void groupScores(int i, int layer, int kvHead, int count, float[] scores) {
        check(i, layer, kvHead, c.modelKvHeads(), count);
        int group = c.modelKvGroup(), g0 = layer * c.modelHeads() + kvHead * group;
        // The mean over the group's heads of q_h · k_h,j / sqrt(d'): each query head has its own keys, so this is
        // the mean of the heads' logits, one pass over the group's keys.
        keys.dotScoresSum(g0, group, queries, i * c.importanceDim() + g0 * c.dPrime(), count, scoreScale / group, scores);
    }

    /** The plain float64 reference of {@link #scores}. */
    public void scoresPlain(int i, int layer, int head, int count, float[] scores) {
        check(i, layer, head, c.modelHeads(), count);
        int g = layer * c.modelHeads() + head;
        keys.dotScoresPlain(g, 1, queries, i * c.importanceDim() + g * c.dPrime(), count, scoreScale, scores);
    }

    /** The plain float64 reference of {@link #groupScores}. */
    public void groupScoresPlain(int i, int layer, int kvHead, int count, float[] scores) {
        check(i, layer, kvHead, c.modelKvHeads(), count);
        int group = c.modelKvGroup(), g0 = layer * c.modelHeads() + kvHead * group;
        keys.dotScoresPlain(g0, group, queries, i * c.importanceDim() + g0 * c.dPrime(), count, scoreScale / group, scores);
    }

    private void check(int i, int layer, int head, int heads, int count) {
        if (i < 0 || i >= queryCount) throw new IllegalArgumentException("query token " + i + " is outside 0.." + (queryCount - 1) + " (the tokens of the last append)");
        if (layer < 0 || layer >= c.modelLayers()) throw new IllegalArgumentException("layer " + layer + " is outside 0.." + (c.modelLayers() - 1));
        if (head < 0 || head >= heads) throw new IllegalArgumentException("head " + head + " is outside 0.." + (heads - 1));
        if (count < 0 || count > length) throw new IllegalArgumentException("count " + count + " is outside 0.." + length + " (the positions stored)");
    }

    /** Benchmarks: random keys for positions 0..n-1, no queries. */
    void fillRandom(int n, long seed) {
        keys.fillRandom(n, seed, 1f);
        length = n;
        queryCount = 0;
    }

    /** Positions stored (0..length-1). */
    public int length() { return length; }

    /** Tokens of the last step (query tokens available to {@link #scores}). */
    public int queryCount() { return queryCount; }

    public KeyPrecision precision() { return keys.precision(); }

    /** 1/sqrt(d'), the factor {@link #scores} applies to every dot product. */
    public float scoreScale() { return scoreScale; }

    /** Raw access for fused kernels: the keys, group (layer * modelHeads + head), as {@link BlockedVectorStore} lays them out. */
    public BlockedVectorStore keys() { return keys; }

    /** Raw access: the queries of the last step, [queryCount][layers][heads][d']. Valid until the next step. */
    public float[] queries() { return queries; }
}
