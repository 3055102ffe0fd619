package io.github.tokenbutler.plugin.predictor;

import io.github.tokenbutler.runtime.Llama3.Parallel;

/**
 * The predictor's forward pass over new tokens (the layout in {@link ImportanceState}), with the one cache it
 * needs itself: its attention block's K/V rows of earlier positions. What it produces, the rotated importance
 * queries and keys, goes to an {@link ImportanceCache}; this class keeps none of it.
 */
public final class PredictorStep {
    /** The rotated importance queries and keys of a step's tokens, [n][L·H·d'] each. */
    public record Importance(float[] queries, float[] keys) {}

    private final PredictorConfig c;
    private final PredictorWeights w;
    private final BlockedVectorStore.F32 attnKeys, attnValues;
    /** [worker][positions] attention scores of the predictor's own attention block, per Llama3.Parallel worker. */
    private float[][] attnScratch = new float[0][0];

    PredictorStep(PredictorConfig config, PredictorWeights weights, int maxPositions) {
        this.c = config;
        this.w = weights;
        this.attnKeys = (BlockedVectorStore.F32) BlockedVectorStore.create(KeyPrecision.F32, config.attnHeads(), config.attnHeadDim(), maxPositions);
        this.attnValues = (BlockedVectorStore.F32) BlockedVectorStore.create(KeyPrecision.F32, config.attnHeads(), config.attnHeadDim(), maxPositions);
    }

    /** Room for positions 0..positions-1 in the attention cache. */
    void ensureCapacity(int positions) {
        attnKeys.ensureCapacity(positions);
        attnValues.ensureCapacity(positions);
    }

    /**
     * The tokens at positions startPos..startPos+n-1 (the attention cache holds 0..startPos-1): their rows join the
     * attention cache, and their importance queries and keys come back.
     * @param x [n][modelDim] layer-0 attention inputs (post-RMSNorm)
     */
    Importance run(int startPos, int n, float[] x) {
        int e = c.modelDim();
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
            PredictorMath.ropeAngles(pos, hd, theta, c.ropeScaling(), cos, sin);
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
        // Imported from later versions of the authors' code: LayerNorms after the residual and before the MLPs.
        if (c.residualNorm()) {
            for (int t = 0; t < n; t++) PredictorMath.layerNorm(hidden, t * e, e, w.residualNormWeight, w.residualNormBias, c.layerNormEps());
        }
        if (c.importanceNorm()) {
            for (int t = 0; t < n; t++) PredictorMath.layerNorm(hidden, t * e, e, w.importanceNormWeight, w.importanceNormBias, c.layerNormEps());
        }

        // Importance queries and keys for every (layer, head), rotated at the token's position.
        float[] qi = importance(hidden, n, w.qImportanceUp, w.qImportanceDown);
        float[] ki = importance(hidden, n, w.kImportanceUp, w.kImportanceDown);
        int groups = c.modelLayers() * c.modelHeads();
        for (int t = 0; t < n; t++) {
            PredictorMath.ropeAngles(startPos + t, dp, theta, c.ropeScaling(), cos, sin);
            for (int g = 0; g < groups; g++) {
                PredictorMath.applyRope(qi, t * dim + g * dp, dp, cos, sin);
                PredictorMath.applyRope(ki, t * dim + g * dp, dp, cos, sin);
            }
        }
        return new Importance(qi, ki);
    }

    /** The attention rows of positions startPos..startPos+n-1 computed elsewhere (a device): k rotated, [n][E/r] each. */
    void store(int startPos, int n, float[] k, float[] v) {
        int p = c.projDim(), hd = c.attnHeadDim();
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < c.attnHeads(); h++) {
                attnKeys.put(h, startPos + t, k, t * p + h * hd);
                attnValues.put(h, startPos + t, v, t * p + h * hd);
            }
        }
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

    /** Benchmarks: a random attention cache for positions 0..n-1. */
    void fillRandom(int n, long seed) {
        attnKeys.fillRandom(n, seed + 1, 1f);
        attnValues.fillRandom(n, seed + 2, 1f);
    }

    /** The attention keys (rotated) and values of positions [from, to), as [position][E/r] rows into k and v. */
    void rows(int from, int to, float[] k, float[] v) {
        int p = c.projDim(), hd = c.attnHeadDim();
        for (int pos = from; pos < to; pos++) {
            for (int h = 0; h < c.attnHeads(); h++) {
                attnKeys.get(h, pos, k, (pos - from) * p + h * hd);
                attnValues.get(h, pos, v, (pos - from) * p + h * hd);
            }
        }
    }
}
