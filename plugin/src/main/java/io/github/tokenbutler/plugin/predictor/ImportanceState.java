package io.github.tokenbutler.plugin.predictor;

import java.util.function.Consumer;

/**
 * Per-sequence predictor state: the predictor's own attention K/V cache and the importance keys of
 * every past token, for every (layer, head) of the base model.
 *
 * <p>The forward pass of one token, as in the reference code of arXiv 2503.07518 v1 (E model dim, P = E/r):
 * <pre>
 *   x  (E)  layer-0 attention input of the base model (post-RMSNorm)
 *   xr = input_proj x                                        (P, no bias)
 *   q, k, v = attn_q xr, attn_k xr, attn_v xr                 (P each, no bias; RoPE on q and k per head)
 *   a  = causal softmax(q k^T / sqrt(P/heads)) v per head     (P; no output projection)
 *   h  = x + ffn_down GELU(ffn_up LayerNorm(a) + b_up) + b_down          (E)
 *   qi = q_importance_down SiLU(q_importance_up h)            (L*H*d', no biases)
 *   ki = k_importance_down SiLU(k_importance_up h)            (L*H*d', no biases)
 *   RoPE on every d'-vector of qi and ki at the token's position
 *   predicted logit of key j for query i, layer l, head h:  qi[l][h] · kj[l][h] / sqrt(d')
 * </pre>
 * {@link #append} runs this for new tokens: the {@link PredictorStep} (the forward pass, with its own attention
 * K/V cache of earlier positions) and the {@link ImportanceCache} (the importance keys of every position and the
 * queries of the new tokens, turned into predicted logits), the two parts of one sequence's predictor state.
 *
 * <p>Not thread-safe for writing: {@link #append}, {@link #reset} and {@link #syntheticFill} must not run
 * concurrently with anything. {@link #scores} and {@link #groupScores} only read and may run from many threads
 * at once (e.g. one per head).
 */
public final class ImportanceState implements PredictorState {
    private final PredictorConfig c;
    private final PredictorWeights w;
    private final int maxPositions;
    private final PredictorStep step;
    private final ImportanceCache cache;

    ImportanceState(PredictorConfig config, PredictorWeights weights, int maxPositions, KeyPrecision precision) {
        this.c = config;
        this.w = weights;
        this.maxPositions = maxPositions;
        this.step = new PredictorStep(config, weights, maxPositions);
        this.cache = new ImportanceCache(config, maxPositions, precision);
    }

    /** Drops everything: a new sequence starts at position 0. */
    public void reset() { cache.truncate(0, 0); }

    /**
     * Runs the predictor on the tokens at positions startPos..startPos+n-1.
     * @param x [n][modelDim] layer-0 attention inputs (post-RMSNorm) of those tokens
     * Computes their importance queries (kept until the next append) and appends their importance keys.
     * startPos may be below the current length: the state then forgets positions startPos and later first
     * (as the runtime's KV cache does when a sequence is rewound).
     */
    public void append(int startPos, int n, float[] x) {
        int e = c.modelDim();
        if (x.length < (long) n * e) throw new IllegalArgumentException("x has " + x.length + " floats, needs n * modelDim = " + (long) n * e);
        begin(startPos, n);
        if (n == 0) return;
        PredictorStep.Importance out = step.run(startPos, n, x);
        cache.put(startPos, n, out.queries(), out.keys());
    }

    /** Checks an append's positions, forgets positions startPos and later, and makes room for n more. */
    private void begin(int startPos, int n) {
        if (n < 0) throw new IllegalArgumentException("token count must not be negative, got " + n);
        if (startPos < 0 || startPos > cache.length()) {
            throw new IllegalArgumentException("startPos " + startPos + " must be in 0.." + cache.length() + " (the positions stored so far)");
        }
        if ((long) startPos + n > maxPositions) {
            throw new IllegalArgumentException("positions " + startPos + ".." + (startPos + n - 1) + " go beyond the state's context of "
                    + maxPositions + " tokens");
        }
        cache.truncate(startPos, n);
        if (n > 0) step.ensureCapacity(startPos + n);
    }

    /**
     * Takes over a sequence whose predictor state only a device held (a device that gives up): positions
     * [0, length), replacing everything stored here.
     * @param k          [length][E/r] the predictor's rotated attention keys, for its own K/V cache
     * @param v          [length][E/r] the predictor's attention values
     * @param queries    the importance queries of the device's last append, [queryCount][L·H·d'] (kept, not copied)
     * @param storedKeys writes the importance keys of positions [0, length) into the store it is given, whose raw
     *                   arrays have room for them, exactly as the store's own put would have stored them
     */
    public void restore(int length, float[] k, float[] v, float[] queries, int queryCount, Consumer<BlockedVectorStore> storedKeys) {
        int p = c.projDim();
        if (length < 0 || length > maxPositions) throw new IllegalArgumentException("length " + length + " is outside 0.." + maxPositions);
        if (k.length < (long) length * p || v.length < (long) length * p || queries.length < (long) queryCount * c.importanceDim()
                || queryCount > length) {
            throw new IllegalArgumentException("restored rows are shorter than " + length + " positions and " + queryCount + " queries");
        }
        cache.truncate(0, length);
        if (length > 0) step.ensureCapacity(length);
        step.store(0, length, k, v);
        storedKeys.accept(cache.keys());
        cache.restore(length, queries, queryCount);
    }

    /** {@link ImportanceCache#scores}. */
    public void scores(int i, int layer, int head, int count, float[] scores) { cache.scores(i, layer, head, count, scores); }

    /** {@link ImportanceCache#groupScores}. */
    public void groupScores(int i, int layer, int kvHead, int count, float[] scores) { cache.groupScores(i, layer, kvHead, count, scores); }

    /** Benchmarks only: synthetic importance keys for positions 0..n-1, as if n tokens had been appended. */
    public void syntheticFill(int n, long seed) {
        if (n < 0 || n > maxPositions) throw new IllegalArgumentException("n " + n + " is outside 0.." + maxPositions);
        reset();
        // Random keys and a random predictor K/V cache, so that appends after this run on a consistent state.
        cache.fillRandom(n, seed);
        step.fillRandom(n, seed);
    }

    /** The importance-key cache: keys, the last step's queries, scoring. */
    public ImportanceCache cache() { return cache; }

    /** Positions stored (0..length-1). */
    public int length() { return cache.length(); }

    /** Tokens of the last append (query tokens available to {@link #scores}). */
    public int queryCount() { return cache.queryCount(); }

    public KeyPrecision precision() { return cache.precision(); }

    public PredictorConfig config() { return c; }

    /**
     * The predictor's own attention keys (rotated) and values of positions [from, to), as [position][E/r] rows
     * into k and v (for an offload backend that keeps a copy of that cache).
     */
    public void attentionRows(int from, int to, float[] k, float[] v) {
        if (from < 0 || to > length() || from > to) throw new IllegalArgumentException("positions " + from + ".." + to + " are outside 0.." + length());
        step.rows(from, to, k, v);
    }

    /** The predictor's weights (shared, not copied). */
    public PredictorWeights weights() { return w; }

    /** 1/sqrt(d'), the factor {@link #scores} applies to every dot product. */
    public float scoreScale() { return cache.scoreScale(); }

    /** {@link ImportanceCache#keys}: valid until the next write to this state. */
    public BlockedVectorStore keys() { return cache.keys(); }

    /** {@link ImportanceCache#queries}: [queryCount][layers][heads][d'], the rotated queries of the last append. */
    public float[] queries() { return cache.queries(); }
}
