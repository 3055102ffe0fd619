package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.predictor.PredictorConfig;
import io.github.tokenbutler.plugin.predictor.PredictorMath;
import io.github.tokenbutler.plugin.predictor.PredictorWeights;

/**
 * The predictor's incremental step on an OpenCL device: the forward pass of {@code ImportanceState#append}
 * (input projection, the predictor's own causal attention over its device-resident K/V cache, LayerNorm, FFN with
 * the residual, the two importance heads, RoPE), with the weights uploaded once. In per call: the new tokens'
 * layer-0 attention inputs (n × E floats) and the rotary angles. Out: their rotated importance queries and keys
 * (n × L·H·d' each), left on the device for the caller ({@link Results}); the rows of the predictor's own K/V
 * cache stay here too, and are read back only when the CPU takes the sequence over ({@link #readCache}).
 *
 * <p>Kernels (one per .cl file): predictor_matvec.cl (built for no activation, GELU and SiLU), predictor_rope.cl,
 * predictor_layernorm.cl, predictor_attention.cl. Angles of the rotary embedding are computed on the host in double
 * precision, as the CPU path computes them. Reference: the CPU path ({@code ImportanceState#append}), itself tested
 * against the float64 {@code ReferencePredictor}.
 */
final class OpenClPredictor implements AutoCloseable {
    /** Work-items per row (matvec), per token (layernorm) and per (head, token) (attention); a power of two. */
    private static final int GROUP = 64;
    /** Attention scores of one launch hold tokens * heads * positions floats: long prefills go in chunks under this. */
    private static final long MAX_SCORE_VALUES = 1L << 24;

    private final ClContext ctx;
    private final PredictorConfig c;
    private final int context, group;
    private final ClKernel matvec, matvecGelu, matvecSilu, rope, layerNorm, attention;
    private final ClBuffer none, inputProj, attnQ, attnK, attnV, normWeight, normBias, ffnUp, ffnUpBias, ffnDown, ffnDownBias,
            qUp, qDown, kUp, kDown, keyCache, valueCache;
    private ClBuffer x, xr, q, k, v, a, up, hidden, mid, qi, ki, cosTable, sinTable, scores;
    private int tokensCapacity;
    private long scoresCapacity;

    OpenClPredictor(OpenClKernels kernels, PredictorConfig config, PredictorWeights w, int context) {
        this.ctx = kernels.context();
        this.c = config;
        this.context = context;
        this.matvec = kernels.predictorKernel("predictor_matvec.cl", "-DACT=0");
        this.matvecGelu = kernels.predictorKernel("predictor_matvec.cl", "-DACT=1");
        this.matvecSilu = kernels.predictorKernel("predictor_matvec.cl", "-DACT=2");
        this.rope = kernels.predictorKernel("predictor_rope.cl", "");
        this.layerNorm = kernels.predictorKernel("predictor_layernorm.cl", "");
        this.attention = kernels.predictorKernel("predictor_attention.cl", "-DHEAD_DIM=" + config.attnHeadDim());
        long largest = Math.min(Math.min(matvec.maxWorkGroupSize(), matvecGelu.maxWorkGroupSize()), matvecSilu.maxWorkGroupSize());
        largest = Math.min(largest, Math.min(layerNorm.maxWorkGroupSize(), attention.maxWorkGroupSize()));
        this.group = (int) Math.max(1, Math.min(GROUP, Long.highestOneBit(largest)));
        ClBuffer[] made = new ClBuffer[17];
        int i = 0;
        try {
            made[i++] = none = ctx.buffer(4, "unused argument");
            made[i++] = inputProj = upload(w.inputProj, "predictor input_proj");
            made[i++] = attnQ = upload(w.attnQ, "predictor attn_q");
            made[i++] = attnK = upload(w.attnK, "predictor attn_k");
            made[i++] = attnV = upload(w.attnV, "predictor attn_v");
            made[i++] = normWeight = upload(w.attnNormWeight, "predictor attn_norm weight");
            made[i++] = normBias = upload(w.attnNormBias, "predictor attn_norm bias");
            made[i++] = ffnUp = upload(w.ffnUp, "predictor ffn_up");
            made[i++] = ffnUpBias = upload(w.ffnUpBias, "predictor ffn_up bias");
            made[i++] = ffnDown = upload(w.ffnDown, "predictor ffn_down");
            made[i++] = ffnDownBias = upload(w.ffnDownBias, "predictor ffn_down bias");
            made[i++] = qUp = upload(w.qImportanceUp, "predictor q_importance_up");
            made[i++] = qDown = upload(w.qImportanceDown, "predictor q_importance_down");
            made[i++] = kUp = upload(w.kImportanceUp, "predictor k_importance_up");
            made[i++] = kDown = upload(w.kImportanceDown, "predictor k_importance_down");
            made[i++] = keyCache = ctx.buffer((long) context * c.projDim() * 4, "predictor K cache");
            made[i++] = valueCache = ctx.buffer((long) context * c.projDim() * 4, "predictor V cache");
        } catch (RuntimeException e) {
            for (int j = i - 1; j >= 0; j--) if (made[j] != null) made[j].close();
            throw e;
        }
    }

    private ClBuffer upload(float[] data, String what) {
        ClBuffer b = ctx.buffer((long) data.length * 4, what);
        try {
            b.write(data, 0, data.length, 0);
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        return b;
    }

    /** Where a step's results lie on the device, a chunk of its tokens at a time (valid during the call only). */
    @FunctionalInterface
    interface Results {
        /**
         * Tokens t0..t0+tokens-1 of the step (positions first..): their rotated importance queries in {@code qi} and
         * keys in {@code ki}, [tokens][L·H·d'] floats each from element 0.
         */
        void chunk(int t0, int first, int tokens, ClBuffer qi, ClBuffer ki);
    }

    /**
     * Runs the predictor on positions startPos..startPos+n-1 (every earlier position must have gone through this
     * object since the last rewind to them, or {@link #loadCache}; startPos below the last call's end rewinds).
     * @param xIn [n][E] layer-0 attention inputs
     * @param results takes each chunk's importance queries and keys on the device
     */
    void step(int startPos, int n, float[] xIn, Results results) {
        if (startPos < 0 || (long) startPos + n > context) {
            throw new IllegalArgumentException("positions " + startPos + ".." + (startPos + n - 1) + " are outside the context of " + context);
        }
        int e = c.modelDim(), p = c.projDim(), f = c.ffnDim(), hid = c.importanceHidden(), d = c.importanceDim();
        int heads = c.attnHeads(), hd = c.attnHeadDim(), dp = c.dPrime();
        int chunk = (int) Math.max(1, Math.min(n, MAX_SCORE_VALUES / ((long) heads * (startPos + n))));
        for (int t0 = 0; t0 < n; t0 += chunk) {
            int tokens = Math.min(chunk, n - t0), first = startPos + t0;
            ensureBuffers(tokens, (long) tokens * heads * (first + tokens));
            x.write(xIn, t0 * e, tokens * e, 0);
            run(matvec, x, e, inputProj, null, null, p, xr, tokens);
            run(matvec, xr, p, attnQ, null, null, p, q, tokens);
            run(matvec, xr, p, attnK, null, null, p, k, tokens);
            run(matvec, xr, p, attnV, null, null, p, v, tokens);
            uploadAngles(first, tokens, hd);
            rope.arg(0, q).arg(1, p).arg(2, hd).arg(3, cosTable).arg(4, sinTable).run(new long[]{hd / 2, heads, tokens}, null);
            rope.arg(0, k).arg(1, p).arg(2, hd).arg(3, cosTable).arg(4, sinTable).run(new long[]{hd / 2, heads, tokens}, null);
            k.copyFloats(0, keyCache, (long) first * p, (long) tokens * p);
            v.copyFloats(0, valueCache, (long) first * p, (long) tokens * p);
            attention.arg(0, q).arg(1, keyCache).arg(2, valueCache).arg(3, p).arg(4, hd).arg(5, first)
                    .arg(6, (float) (1.0 / Math.sqrt(hd))).arg(7, scores).arg(8, first + tokens).arg(9, a).local(10, (long) group * 4)
                    .run(new long[]{(long) heads * group, tokens}, new long[]{group, 1});
            layerNorm.arg(0, a).arg(1, p).arg(2, normWeight).arg(3, normBias).arg(4, c.layerNormEps()).local(5, (long) group * 4)
                    .run(new long[]{group, tokens}, new long[]{group, 1});
            run(matvecGelu, a, p, ffnUp, ffnUpBias, null, f, up, tokens);
            run(matvec, up, f, ffnDown, ffnDownBias, x, e, hidden, tokens);
            run(matvecSilu, hidden, e, qUp, null, null, hid, mid, tokens);
            run(matvec, mid, hid, qDown, null, null, d, qi, tokens);
            run(matvecSilu, hidden, e, kUp, null, null, hid, mid, tokens);
            run(matvec, mid, hid, kDown, null, null, d, ki, tokens);
            uploadAngles(first, tokens, dp);
            int vectors = c.modelLayers() * c.modelHeads();
            rope.arg(0, qi).arg(1, d).arg(2, dp).arg(3, cosTable).arg(4, sinTable).run(new long[]{dp / 2, vectors, tokens}, null);
            rope.arg(0, ki).arg(1, d).arg(2, dp).arg(3, cosTable).arg(4, sinTable).run(new long[]{dp / 2, vectors, tokens}, null);
            results.chunk(t0, first, tokens, qi, ki);
        }
    }

    /** Reads rows [0, n) of the predictor's K/V cache into k and v ([n][E/r] each), as the CPU's state holds them. */
    void readCache(int n, float[] k, float[] v) {
        int p = c.projDim();
        keyCache.read(0, k, 0, n * p);
        valueCache.read(0, v, 0, n * p);
    }

    /** Writes rows [startPos, startPos+n) of the predictor's K/V cache ([n][E/r] each), as the CPU's state holds them. */
    void loadCache(int startPos, int n, float[] k, float[] v) {
        int p = c.projDim();
        keyCache.write(k, 0, n * p, (long) startPos * p);
        valueCache.write(v, 0, n * p, (long) startPos * p);
    }

    private void run(ClKernel kernel, ClBuffer in, int inDim, ClBuffer weight, ClBuffer bias, ClBuffer residual, int outDim,
                     ClBuffer out, int tokens) {
        kernel.arg(0, in).arg(1, inDim).arg(2, weight).arg(3, bias == null ? none : bias).arg(4, bias == null ? 0 : 1)
                .arg(5, residual == null ? none : residual).arg(6, residual == null ? 0 : 1).arg(7, outDim).arg(8, out)
                .local(9, (long) group * 4)
                .run(new long[]{(long) outDim * group, tokens}, new long[]{group, 1});
    }

    /** cos and sin of the rotary angles of positions first..first+tokens-1 for vectors of dim values. */
    private void uploadAngles(int first, int tokens, int dim) {
        int half = dim / 2;
        float[] cos = new float[tokens * half], sin = new float[tokens * half], cp = new float[half], sp = new float[half];
        for (int t = 0; t < tokens; t++) {
            PredictorMath.ropeAngles(first + t, dim, c.ropeTheta(), cp, sp);
            System.arraycopy(cp, 0, cos, t * half, half);
            System.arraycopy(sp, 0, sin, t * half, half);
        }
        cosTable.write(cos, 0, cos.length, 0);
        sinTable.write(sin, 0, sin.length, 0);
    }

    private void ensureBuffers(int tokens, long scoreValues) {
        if (x != null && tokens <= tokensCapacity && scoreValues <= scoresCapacity) return;
        closeCallBuffers();
        tokensCapacity = Math.max(tokens, tokensCapacity);
        // A decode step at a time grows the scores by one position per head: double, up to the whole context.
        scoresCapacity = Math.max(scoreValues, Math.min((long) tokensCapacity * c.attnHeads() * context, 2 * scoresCapacity));
        int e = c.modelDim(), p = c.projDim();
        long t = tokensCapacity;
        x = ctx.buffer(t * e * 4, "predictor inputs");
        xr = ctx.buffer(t * p * 4, "predictor projected inputs");
        q = ctx.buffer(t * p * 4, "predictor queries");
        k = ctx.buffer(t * p * 4, "predictor keys");
        v = ctx.buffer(t * p * 4, "predictor values");
        a = ctx.buffer(t * p * 4, "predictor attention output");
        up = ctx.buffer(t * c.ffnDim() * 4, "predictor FFN hidden");
        hidden = ctx.buffer(t * e * 4, "predictor hidden state");
        mid = ctx.buffer(t * c.importanceHidden() * 4, "predictor importance hidden");
        qi = ctx.buffer(t * c.importanceDim() * 4, "importance queries (device)");
        ki = ctx.buffer(t * c.importanceDim() * 4, "importance keys (device)");
        int half = Math.max(c.attnHeadDim(), c.dPrime()) / 2;
        cosTable = ctx.buffer(t * half * 4, "rotary cos");
        sinTable = ctx.buffer(t * half * 4, "rotary sin");
        scores = ctx.buffer(scoresCapacity * 4, "predictor attention scores");
    }

    private void closeCallBuffers() {
        // Reverse order of creation.
        for (ClBuffer b : new ClBuffer[]{scores, sinTable, cosTable, ki, qi, mid, hidden, up, a, v, k, q, xr, x}) if (b != null) b.close();
        scores = sinTable = cosTable = ki = qi = mid = hidden = up = a = v = k = q = xr = x = null;
    }

    @Override
    public void close() {
        closeCallBuffers();
        for (ClBuffer b : new ClBuffer[]{valueCache, keyCache, kDown, kUp, qDown, qUp, ffnDownBias, ffnDown, ffnUpBias, ffnUp,
                normBias, normWeight, attnV, attnK, attnQ, inputProj, none}) {
            b.close();
        }
    }
}
