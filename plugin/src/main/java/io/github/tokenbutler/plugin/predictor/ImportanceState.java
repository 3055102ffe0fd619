package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.Parallel;

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
 * {@link #append} runs this for new tokens using the cached K/V of earlier ones, keeps the new tokens' importance
 * queries and appends their importance keys to the key store.
 *
 * <p>Not thread-safe for writing: {@link #append}, {@link #reset} and {@link #syntheticFill} must not run
 * concurrently with anything. {@link #scores} and {@link #groupScores} only read and may run from many threads
 * at once (e.g. one per head).
 */
public final class ImportanceState {
    private final PredictorConfig c;
    private final PredictorWeights w;
    private final int maxPositions;
    private final BlockedVectorStore keys;
    private final BlockedVectorStore.F32 attnKeys, attnValues;
    private final float scoreScale;
    private int length;
    private float[] queries = new float[0];
    private int queryCount;
    /** [worker][positions] attention scores of the predictor's own attention block, per Llama3.Parallel worker. */
    private float[][] attnScratch = new float[0][0];

    ImportanceState(PredictorConfig config, PredictorWeights weights, int maxPositions, KeyPrecision precision) {
        this.c = config;
        this.w = weights;
        this.maxPositions = maxPositions;
        this.keys = BlockedVectorStore.create(precision, config.modelLayers() * config.modelHeads(), config.dPrime(), maxPositions);
        this.attnKeys = (BlockedVectorStore.F32) BlockedVectorStore.create(KeyPrecision.F32, config.attnHeads(), config.attnHeadDim(), maxPositions);
        this.attnValues = (BlockedVectorStore.F32) BlockedVectorStore.create(KeyPrecision.F32, config.attnHeads(), config.attnHeadDim(), maxPositions);
        this.scoreScale = (float) (1.0 / Math.sqrt(config.dPrime()));
    }

    /** Drops everything: a new sequence starts at position 0. */
    public void reset() {
        length = 0;
        queryCount = 0;
    }

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

        int p = c.projDim(), heads = c.attnHeads(), hd = c.attnHeadDim(), dp = c.dPrime(), dim = c.importanceDim();
        double theta = c.ropeTheta();

        // The predictor's attention block.
        float[] xr = new float[n * p], q = new float[n * p], k = new float[n * p], v = new float[n * p];
        PredictorMath.matmul(x, n, e, w.inputProj, null, p, xr);
        PredictorMath.matmul(xr, n, p, w.attnQ, null, p, q);
        PredictorMath.matmul(xr, n, p, w.attnK, null, p, k);
        PredictorMath.matmul(xr, n, p, w.attnV, null, p, v);
        float[] cos = new float[Math.max(hd, dp) / 2], sin = new float[cos.length];
        for (int t = 0; t < n; t++) {
            int pos = startPos + t;
            PredictorMath.ropeAngles(pos, hd, theta, cos, sin);
            for (int h = 0; h < heads; h++) {
                PredictorMath.applyRope(q, t * p + h * hd, hd, cos, sin);
                PredictorMath.applyRope(k, t * p + h * hd, hd, cos, sin);
                attnKeys.put(h, pos, k, t * p + h * hd);
                attnValues.put(h, pos, v, t * p + h * hd);
            }
        }
        float[] a = new float[n * p];
        attend(startPos, n, q, a);

        // LayerNorm, FFN back to E, residual on the input.
        for (int t = 0; t < n; t++) PredictorMath.layerNorm(a, t * p, p, w.attnNormWeight, w.attnNormBias, c.layerNormEps());
        float[] up = new float[n * c.ffnDim()];
        PredictorMath.matmul(a, n, p, w.ffnUp, w.ffnUpBias, c.ffnDim(), up);
        for (int i = 0; i < up.length; i++) up[i] = PredictorMath.gelu(up[i]);
        float[] hidden = new float[n * e];
        PredictorMath.matmul(up, n, c.ffnDim(), w.ffnDown, w.ffnDownBias, e, hidden);
        for (int i = 0; i < n * e; i++) hidden[i] += x[i];

        // Importance queries and keys for every (layer, head), rotated at the token's position.
        float[] qi = importance(hidden, n, w.qImportanceUp, w.qImportanceDown);
        float[] ki = importance(hidden, n, w.kImportanceUp, w.kImportanceDown);
        int groups = c.modelLayers() * c.modelHeads();
        for (int t = 0; t < n; t++) {
            int pos = startPos + t;
            PredictorMath.ropeAngles(pos, dp, theta, cos, sin);
            for (int g = 0; g < groups; g++) {
                PredictorMath.applyRope(qi, t * dim + g * dp, dp, cos, sin);
                PredictorMath.applyRope(ki, t * dim + g * dp, dp, cos, sin);
                keys.put(g, pos, ki, t * dim + g * dp);
            }
        }
        queries = qi;
        queryCount = n;
        length = startPos + n;
    }

    /** Checks an append's positions, forgets positions startPos and later, and makes room for n more. */
    private void begin(int startPos, int n) {
        if (n < 0) throw new IllegalArgumentException("token count must not be negative, got " + n);
        if (startPos < 0 || startPos > length) {
            throw new IllegalArgumentException("startPos " + startPos + " must be in 0.." + length + " (the positions stored so far)");
        }
        if ((long) startPos + n > maxPositions) {
            throw new IllegalArgumentException("positions " + startPos + ".." + (startPos + n - 1) + " go beyond the state's context of "
                    + maxPositions + " tokens");
        }
        length = startPos;
        queryCount = 0;
        if (n == 0) return;
        keys.ensureCapacity(startPos + n);
        attnKeys.ensureCapacity(startPos + n);
        attnValues.ensureCapacity(startPos + n);
    }

    /**
     * As {@link #append}, with the forward pass already done elsewhere (an OpenCL device): stores the results
     * exactly as append stores its own.
     * @param qi [n][L·H·d'] rotated importance queries (kept, not copied)
     * @param ki [n][L·H·d'] rotated importance keys
     * @param k  [n][E/r] the predictor's rotated attention keys, for its own K/V cache
     * @param v  [n][E/r] the predictor's attention values
     */
    public void appendComputed(int startPos, int n, float[] qi, float[] ki, float[] k, float[] v) {
        int p = c.projDim(), heads = c.attnHeads(), hd = c.attnHeadDim(), dp = c.dPrime(), dim = c.importanceDim();
        if (qi.length < (long) n * dim || ki.length < (long) n * dim || k.length < (long) n * p || v.length < (long) n * p) {
            throw new IllegalArgumentException("computed rows are shorter than n = " + n + " tokens");
        }
        begin(startPos, n);
        int groups = c.modelLayers() * c.modelHeads();
        for (int t = 0; t < n; t++) {
            int pos = startPos + t;
            for (int h = 0; h < heads; h++) {
                attnKeys.put(h, pos, k, t * p + h * hd);
                attnValues.put(h, pos, v, t * p + h * hd);
            }
            for (int g = 0; g < groups; g++) keys.put(g, pos, ki, t * dim + g * dp);
        }
        queries = qi;
        queryCount = n;
        length = startPos + n;
    }

    private float[] importance(float[] hidden, int n, float[] upWeight, float[] downWeight) {
        int hiddenLen = c.importanceHidden();
        float[] mid = new float[n * hiddenLen];
        PredictorMath.matmul(hidden, n, c.modelDim(), upWeight, null, hiddenLen, mid);
        for (int i = 0; i < mid.length; i++) mid[i] = PredictorMath.silu(mid[i]);
        float[] out = new float[n * c.importanceDim()];
        PredictorMath.matmul(mid, n, hiddenLen, downWeight, null, c.importanceDim(), out);
        return out;
    }

    /**
     * Causal attention of the new tokens over the cached predictor keys and values: token t (position
     * startPos + t) sees positions 0..startPos+t. Work is split over (token, head) pairs when it is large.
     */
    private void attend(int startPos, int n, float[] q, float[] out) {
        int p = c.projDim(), heads = c.attnHeads(), hd = c.attnHeadDim();
        float scale = (float) (1.0 / Math.sqrt(hd));
        int pairs = n * heads, longest = startPos + n;
        if (attnScratch.length < Parallel.THREADS || attnScratch[0].length < longest) {
            attnScratch = new float[Parallel.THREADS][Math.max(longest, 2 * (attnScratch.length > 0 ? attnScratch[0].length : 0))];
        }
        float[][] scratch = attnScratch;
        // About 64K multiply-adds per share: one (token, head) pair at 4K+ positions, several at short ones.
        int pairsPerShare = (int) Math.max(1, (1L << 16) / ((long) longest * hd));
        Parallel.forRange(pairs, pairsPerShare, (from, to, worker) -> {
            float[] s = scratch[worker];
            for (int pair = from; pair < to; pair++) {
                int t = pair / heads, h = pair % heads, count = startPos + t + 1, off = t * p + h * hd;
                attnKeys.dotScores(h, q, off, count, scale, s);
                float sum = PredictorMath.softmaxUnnormalized(s, count);
                attnValues.weightedSum(h, s, count, out, off);
                float inv = 1f / sum;
                for (int j = 0; j < hd; j++) out[off + j] *= inv;
            }
        });
    }

    /**
     * Predicted attention logits q_i·k_j/sqrt(d') of query token i of the last append (position startPos+i)
     * for base-model layer `layer` and query head `head`, over key positions 0..count-1, into scores[0..count).
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

    /** Benchmarks only: synthetic importance keys for positions 0..n-1, as if n tokens had been appended. */
    public void syntheticFill(int n, long seed) {
        if (n < 0 || n > maxPositions) throw new IllegalArgumentException("n " + n + " is outside 0.." + maxPositions);
        reset();
        // Random keys and a random predictor K/V cache, so that appends after this run on a consistent state.
        keys.fillRandom(n, seed, 1f);
        attnKeys.fillRandom(n, seed + 1, 1f);
        attnValues.fillRandom(n, seed + 2, 1f);
        length = n;
    }

    /** Positions stored (0..length-1). */
    public int length() { return length; }

    /** Tokens of the last append (query tokens available to {@link #scores}). */
    public int queryCount() { return queryCount; }

    public KeyPrecision precision() { return keys.precision(); }

    public PredictorConfig config() { return c; }

    /**
     * The predictor's own attention keys (rotated) and values of positions [from, to), as [position][E/r] rows
     * into k and v (for an offload backend that keeps a copy of that cache).
     */
    public void attentionRows(int from, int to, float[] k, float[] v) {
        if (from < 0 || to > length || from > to) throw new IllegalArgumentException("positions " + from + ".." + to + " are outside 0.." + length);
        int p = c.projDim(), hd = c.attnHeadDim();
        for (int pos = from; pos < to; pos++) {
            for (int h = 0; h < c.attnHeads(); h++) {
                attnKeys.get(h, pos, k, (pos - from) * p + h * hd);
                attnValues.get(h, pos, v, (pos - from) * p + h * hd);
            }
        }
    }

    /** The predictor's weights (shared, not copied). */
    public PredictorWeights weights() { return w; }

    /** 1/sqrt(d'), the factor {@link #scores} applies to every dot product. */
    public float scoreScale() { return scoreScale; }

    /**
     * Raw access for fused kernels: the importance keys, group (layer * modelHeads + head), laid out as
     * {@link BlockedVectorStore} describes. Valid until the next write to this state.
     */
    public BlockedVectorStore keys() { return keys; }

    /**
     * Raw access: the importance queries of the last append, [queryCount][layers][heads][d'] (the rotated
     * query of token i, layer l, head h starts at {@link #queryOffset}). Valid until the next append.
     */
    public float[] queries() { return queries; }

    public int queryOffset(int i, int layer, int head) {
        return i * c.importanceDim() + (layer * c.modelHeads() + head) * c.dPrime();
    }

    /** Bytes held by the importance keys and the predictor's own K/V cache. */
    public long allocatedBytes() { return keys.allocatedBytes() + attnKeys.allocatedBytes() + attnValues.allocatedBytes(); }
}
