package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.KvRows;

import java.util.Arrays;

/**
 * Per-sequence state of a revised (v2) predictor: the importance keys of every past position per (layer, KV
 * head), and the importance queries of the current tokens per (layer, query head), or, for one selection per KV
 * group, only their means per (layer, KV head).
 *
 * <pre>
 *   producer p, at layer l0 = p*G, attention input x (E, post-RMSNorm):
 *     u  = SiLU(W_up LayerNorm(x) + b_up)                          (I)
 *     qi = W_down u + b_down                                       (G*H*d': layers l0..l0+G-1, head h, element j)
 *   layer l, KV head kv, the model's post-RoPE key k (head size) of each new position:
 *     ki = W_key[l][kv] k                                          (d', no bias)
 *   rotary: k is the key before RoPE, and qi, ki are rotated in d' dimensions at their positions
 *   predicted logit of key t for query i, layer l, head h:  qi[l][h] · ki_t[l][kv(h)] / sqrt(d')
 * </pre>
 * The runtime drives it through the hook: {@link #producerInput} for each layer's attention input (producers only
 * act), {@link #keysBeforeRope} after each layer's K matmul (rotary only), then {@link #keysWritten} at each layer's attention, once that layer's new K rows are in the cache, before
 * the layer's scores are read. Keys are stored in the chosen {@link KeyPrecision} (Q8 by default: d'+4 bytes).
 *
 * <p>Not thread-safe for writing. {@link #scores} and {@link #groupScores} only read and may run from many
 * threads at once.
 */
public final class RevisedImportanceState implements PredictorState {
    private final RevisedPredictorConfig c;
    private final RevisedPredictorWeights w;
    private final int maxPositions;
    private final BlockedVectorStore keys;
    private final float scoreScale;
    /** Positions whose keys are stored, per layer (a layer's keys arrive at its attention). */
    private final int[] keyLength;
    /** The current tokens' queries, [n][L][H][d'], and their means per KV group, [n][L][H_kv][d']. */
    private float[] queries = new float[0], groupQueries = new float[0];
    private int queryStart = -1, queryCount;
    // producer scratch: [n][E] normalized inputs, [n][I] hidden, [n][G*H*d'] outputs ([n][G*H_kv*d'] group-only); one key row and its projection
    private float[] normed = new float[0], hidden = new float[0], produced = new float[0];
    private final float[] keyRow, projected, angleCos, angleSin;
    /** Rotary: cos/sin of the current step's positions, [n][d'/2], computed once a step for every layer and head. */
    private float[] stepCos = new float[0], stepSin = new float[0];

    /** With groupQueriesOnly: per producer the group-averaged down projection [G*H_kv*d'][I] and its bias, else null. */
    private final float[][] groupDown, groupDownBias;
    /** Per producer the up and down projections as half-precision bits when the file holds them in F16, else null (w's floats are used). */
    private final short[][] upHalf, downHalf;

    /** A state with per-head queries (and their group means). */
    RevisedImportanceState(RevisedPredictorConfig config, RevisedPredictorWeights weights, int maxPositions, KeyPrecision precision) {
        this(config, weights, maxPositions, precision, null, null, null, null);
    }

    RevisedImportanceState(RevisedPredictorConfig config, RevisedPredictorWeights weights, int maxPositions, KeyPrecision precision,
                           float[][] groupDown, float[][] groupDownBias, short[][] upHalf, short[][] downHalf) {
        this.c = config;
        this.w = weights;
        this.groupDown = groupDown;
        this.groupDownBias = groupDownBias;
        this.upHalf = upHalf;
        this.downHalf = downHalf;
        this.maxPositions = maxPositions;
        this.keys = BlockedVectorStore.create(precision, config.modelLayers() * config.modelKvHeads(), config.dPrime(), maxPositions);
        this.scoreScale = (float) (1.0 / Math.sqrt(config.dPrime()));
        this.keyLength = new int[config.modelLayers()];
        this.keyRow = new float[config.modelHeadSize()];
        this.projected = new float[config.dPrime()];
        this.angleCos = new float[config.dPrime() / 2];
        this.angleSin = new float[config.dPrime() / 2];
    }

    public RevisedPredictorConfig config() { return c; }

    public KeyPrecision precision() { return keys.precision(); }

    /** Whether only the KV groups' mean queries are computed (a state for gqa=kv): {@link #scores} and {@link #queries} are then refused. */
    public boolean groupQueriesOnly() { return groupDown != null; }

    /** Drops everything: a new sequence starts at position 0. */
    public void reset() {
        Arrays.fill(keyLength, 0);
        queryStart = -1;
        queryCount = 0;
    }

    /**
     * The attention input of layer `layer` for positions startPos..startPos+n-1, x [n][E]. Layer 0's starts a step
     * (positions from startPos on are forgotten, as the runtime's cache forgets them on a rewind); producer layers
     * compute the queries of their G layers; other layers are ignored.
     */
    public void producerInput(int layer, int startPos, int n, float[] x) {
        int e = c.modelDim();
        if (x.length < (long) n * e) throw new IllegalArgumentException("x has " + x.length + " floats, needs n * modelDim = " + (long) n * e);
        if (layer == 0) begin(startPos, n);
        else if (startPos != queryStart || n != queryCount) {
            throw new IllegalStateException("layer " + layer + " input for positions " + startPos + ".." + (startPos + n - 1)
                    + " but layer 0's was for " + queryStart + ".." + (queryStart + queryCount - 1));
        }
        if (layer % c.producerSpacing() != 0 || n == 0) return;
        int p = c.producerOf(layer), hiddenLength = c.importanceHidden();
        int out = groupDown != null ? c.producerSpacing() * c.modelKvHeads() * c.dPrime() : c.producerOutput();
        if (normed.length < n * e) normed = new float[n * e];
        if (hidden.length < n * hiddenLength) hidden = new float[n * hiddenLength];
        if (produced.length < n * out) produced = new float[n * out];
        System.arraycopy(x, 0, normed, 0, n * e);
        for (int t = 0; t < n; t++) PredictorMath.layerNorm(normed, t * e, e, w.normWeight[p], w.normBias[p], c.layerNormEps());
        if (upHalf != null) PredictorMath.matmul(normed, n, e, upHalf[p], w.upBias[p], hiddenLength, hidden);
        else PredictorMath.matmul(normed, n, e, w.up[p], w.upBias[p], hiddenLength, hidden);
        for (int i = 0; i < n * hiddenLength; i++) hidden[i] = PredictorMath.silu(hidden[i]);
        if (groupDown != null) {
            PredictorMath.matmul(hidden, n, hiddenLength, groupDown[p], groupDownBias[p], out, produced);
            storeQueries(produced, out, p, n, c.modelKvHeads(), groupQueries);
            return;
        }
        if (downHalf != null) PredictorMath.matmul(hidden, n, hiddenLength, downHalf[p], w.downBias[p], out, produced);
        else PredictorMath.matmul(hidden, n, hiddenLength, w.down[p], w.downBias[p], out, produced);
        storeQueries(produced, out, p, n, c.modelHeads(), queries);
        int heads = c.modelHeads(), kvHeads = c.modelKvHeads(), group = c.modelKvGroup(), dp = c.dPrime();
        int firstLayer = c.firstServedLayer(p), perLayer = heads * dp, layers = servedLayers(p);
        for (int t = 0; t < n; t++) {
            for (int g = 0; g < layers; g++) {
                int q0 = (t * c.modelLayers() + firstLayer + g) * perLayer, m0 = (t * c.modelLayers() + firstLayer + g) * kvHeads * dp;
                for (int kv = 0; kv < kvHeads; kv++) {
                    for (int j = 0; j < dp; j++) {
                        float s = 0f;
                        for (int h = 0; h < group; h++) s += queries[q0 + (kv * group + h) * dp + j];
                        groupQueries[m0 + kv * dp + j] = s / group;
                    }
                }
            }
        }
    }

    /** The layers producer p serves: its own and the next G-1, or with the authors' offset the G after it (fewer at the top). */
    private int servedLayers(int p) { return Math.max(0, Math.min(c.producerSpacing(), c.modelLayers() - c.firstServedLayer(p))); }

    /**
     * Producer p's outputs [n][out] ([G][vectors][d'] per token) into the step's query rows [n][L][vectors][d'] of
     * the layers it serves, rotated at each token's position when rotary.
     */
    private void storeQueries(float[] produced, int out, int p, int n, int vectors, float[] into) {
        int dp = c.dPrime(), perLayer = vectors * dp, layers = servedLayers(p), firstLayer = c.firstServedLayer(p);
        for (int t = 0; t < n; t++) {
            int first = (t * c.modelLayers() + firstLayer) * perLayer;
            System.arraycopy(produced, t * out, into, first, layers * perLayer);
            if (c.rotary()) {
                for (int v = 0; v < layers * vectors; v++) PredictorMath.applyRope(into, first + v * dp, dp, stepCos, stepSin, t * (dp / 2));
            }
        }
    }

    private void begin(int startPos, int n) {
        if (n < 0) throw new IllegalArgumentException("token count must not be negative, got " + n);
        int stored = keyLength[0];
        for (int l = 1; l < c.modelLayers(); l++) stored = Math.max(stored, keyLength[l]);
        if (startPos < 0 || startPos > stored) {
            throw new IllegalArgumentException("startPos " + startPos + " must be in 0.." + stored + " (the positions stored so far)");
        }
        if ((long) startPos + n > maxPositions) {
            throw new IllegalArgumentException("positions " + startPos + ".." + (startPos + n - 1) + " go beyond the state's context of "
                    + maxPositions + " tokens");
        }
        for (int l = 0; l < c.modelLayers(); l++) keyLength[l] = Math.min(keyLength[l], startPos);
        if (n > 0) keys.ensureCapacity(startPos + n);
        int q = groupDown != null ? 0 : n * c.queryLength(), g = n * c.keyLength();
        if (queries.length < q) queries = new float[q];
        if (groupQueries.length < g) groupQueries = new float[g];
        queryStart = startPos;
        queryCount = n;
        if (c.rotary()) {
            int half = c.dPrime() / 2;
            if (stepCos.length < n * half) {
                stepCos = new float[n * half];
                stepSin = new float[n * half];
            }
            for (int t = 0; t < n; t++) {
                PredictorMath.ropeAngles(startPos + t, c.dPrime(), c.ropeTheta(), angleCos, angleSin);
                System.arraycopy(angleCos, 0, stepCos, t * half, half);
                System.arraycopy(angleSin, 0, stepSin, t * half, half);
            }
        }
    }

    /**
     * Layer `layer`'s keys (post-RoPE, in the cache's stored type) of positions startPos..startPos+n-1 are in the
     * cache: without rotary importance vectors, their importance keys are projected and stored here. Positions
     * already stored are computed again (a rewound sequence writes new rows there).
     */
    public void keysWritten(int layer, int startPos, int n, KvRows cache) {
        if (c.rotary()) return;
        requireContiguous(layer, startPos);
        int hs = c.modelHeadSize();
        for (int t = 0; t < n; t++) {
            for (int kv = 0; kv < c.modelKvHeads(); kv++) {
                cache.read(startPos + t, kv * hs, hs, keyRow, 0);
                storeKey(layer, startPos + t, kv, keyRow, 0, -1);
            }
        }
        keyLength[layer] = startPos + n;
    }

    /**
     * Layer `layer`'s keys before RoPE, k [n][H_kv * head size], of positions startPos..startPos+n-1: with rotary
     * importance vectors, their importance keys are projected, rotated at their positions and stored here.
     */
    public void keysBeforeRope(int layer, int startPos, int n, float[] k) {
        if (!c.rotary()) return;
        requireContiguous(layer, startPos);
        if (startPos != queryStart || n != queryCount) {
            throw new IllegalStateException("layer " + layer + " keys for positions " + startPos + ".." + (startPos + n - 1)
                    + " but layer 0's input was for " + queryStart + ".." + (queryStart + queryCount - 1));
        }
        int hs = c.modelHeadSize(), kvDim = c.modelKvHeads() * hs;
        for (int t = 0; t < n; t++) {
            for (int kv = 0; kv < c.modelKvHeads(); kv++) storeKey(layer, startPos + t, kv, k, t * kvDim + kv * hs, t);
        }
        keyLength[layer] = startPos + n;
    }

    private void requireContiguous(int layer, int startPos) {
        if (startPos > keyLength[layer]) {
            throw new IllegalStateException("layer " + layer + " keys from position " + startPos + " but only " + keyLength[layer] + " are stored");
        }
    }

    /** W_key[layer][kv] · key (head size at src[off]), rotated with the angles of the step's token t when rotary, into the store. */
    private void storeKey(int layer, int pos, int kv, float[] src, int off, int t) {
        int hs = c.modelHeadSize(), dp = c.dPrime();
        float[] proj = w.keyProjection[layer];
        for (int j = 0; j < dp; j++) projected[j] = PredictorMath.dot(proj, (kv * dp + j) * hs, src, off, hs);
        if (c.rotary()) PredictorMath.applyRope(projected, 0, dp, stepCos, stepSin, t * (dp / 2));
        keys.put(layer * c.modelKvHeads() + kv, pos, projected, 0);
    }

    /** Predicted logits of query token i of the current step, layer `layer`, query head `head`, over key positions 0..count-1. */
    public void scores(int i, int layer, int head, int count, float[] out) {
        requirePerHead();
        check(i, layer, count);
        int kv = head / c.modelKvGroup();
        keys.dotScores(layer * c.modelKvHeads() + kv, queries, ((i * c.modelLayers() + layer) * c.modelHeads() + head) * c.dPrime(),
                count, scoreScale, out);
    }

    /**
     * As {@link #scores}, one row for the query heads of KV head `kvHead`: the mean of their logits, which (the keys
     * being shared) is the logit of their mean query, one pass over one KV head's keys.
     */
    public void groupScores(int i, int layer, int kvHead, int count, float[] out) {
        check(i, layer, count);
        int kvHeads = c.modelKvHeads();
        keys.dotScores(layer * kvHeads + kvHead, groupQueries, ((i * c.modelLayers() + layer) * kvHeads + kvHead) * c.dPrime(),
                count, scoreScale, out);
    }

    /** The plain float64 reference of {@link #scores}, over the stored (quantized) keys. */
    public void scoresPlain(int i, int layer, int head, int count, float[] out) {
        requirePerHead();
        check(i, layer, count);
        int kv = head / c.modelKvGroup();
        keys.dotScoresPlain(layer * c.modelKvHeads() + kv, 1, queries, ((i * c.modelLayers() + layer) * c.modelHeads() + head) * c.dPrime(),
                count, scoreScale, out);
    }

    /** The plain float64 reference of {@link #groupScores}, over the stored (quantized) keys. */
    public void groupScoresPlain(int i, int layer, int kvHead, int count, float[] out) {
        check(i, layer, count);
        int kvHeads = c.modelKvHeads();
        keys.dotScoresPlain(layer * kvHeads + kvHead, 1, groupQueries, ((i * c.modelLayers() + layer) * kvHeads + kvHead) * c.dPrime(),
                count, scoreScale, out);
    }

    private void requirePerHead() {
        if (groupDown != null) throw new IllegalStateException("this state computes only the KV groups' mean queries (gqa=kv): no per-head scores");
    }

    private void check(int i, int layer, int count) {
        if (i < 0 || i >= queryCount) throw new IllegalArgumentException("query token " + i + " is outside 0.." + (queryCount - 1) + " (the current tokens)");
        if (layer < 0 || layer >= c.modelLayers()) throw new IllegalArgumentException("layer " + layer + " is outside 0.." + (c.modelLayers() - 1));
        if (count < 0 || count > keyLength[layer]) {
            throw new IllegalArgumentException("count " + count + " is outside 0.." + keyLength[layer] + " (layer " + layer + "'s keys stored)");
        }
    }

    /** Benchmarks: random keys for positions 0..n-1 of every layer, no queries. */
    public void syntheticFill(int n, long seed) {
        if (n < 0 || n > maxPositions) throw new IllegalArgumentException("n " + n + " is outside 0.." + maxPositions);
        reset();
        keys.fillRandom(n, seed, 1f);
        Arrays.fill(keyLength, n);
    }

    /** The current tokens' queries, [n][L][H][d'] (valid until the next step). */
    public float[] queries() {
        requirePerHead();
        return queries;
    }

    /** The current tokens' mean queries per KV group, [n][L][H_kv][d'] (valid until the next step). */
    public float[] groupQueries() { return groupQueries; }

    /** The predicted logits' scale, 1/sqrt(d'). */
    public float scoreScale() { return scoreScale; }

    /** The key store: group layer * H_kv + kvHead. */
    public BlockedVectorStore keys() { return keys; }
}
