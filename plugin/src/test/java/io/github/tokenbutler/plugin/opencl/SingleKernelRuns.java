package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.predictor.BlockedVectorStore;
import io.github.tokenbutler.plugin.predictor.KeyPrecision;

/**
 * One OpenCL kernel at a time on fresh buffers, with the CPU function's calling convention, so that each kernel
 * can be held against its plain reference (OpenClKernelsTest, QuantizeKeysTest). Production chains the same
 * launches ({@link OpenClKernels}'s run methods) on device-resident buffers in {@link OpenClSparseAttention}.
 */
final class SingleKernelRuns {
    private SingleKernelRuns() {}

    /**
     * out[t] = scale · Σ_{g0 ≤ g < g0+nGroups} q[qOff + (g−g0)·d' ..] · key(g, t), for t &lt; count (as
     * {@link BlockedVectorStore#dotScoresSum}).
     */
    static void importanceScores(OpenClKernels k, BlockedVectorStore keys, int g0, int nGroups, float[] q, int qOff, int count, float scale,
                                 float[] out) {
        if (count == 0) return;
        ClContext ctx = k.context();
        int groupStride = OpenClKernels.groupLength(keys), dim = keys.dim(), groups = keys.groups();
        try (ClBuffer keyBuf = ctx.buffer((long) groups * groupStride * OpenClKernels.keyBytes(keys.precision()), "importance keys");
             ClBuffer scaleBuf = ctx.buffer((long) groups * keys.capacity() * 4, "key scales");
             ClBuffer queryBuf = ctx.buffer((long) (g0 + nGroups) * dim * 4, "importance query");
             ClBuffer scoreBuf = ctx.buffer((long) count * 4, "scores")) {
            OpenClKernels.uploadKeys(keys, 0, count, keyBuf, scaleBuf, groupStride, keys.capacity());
            queryBuf.write(q, qOff, nGroups * dim, (long) g0 * dim);
            k.runScoring(keys.precision(), keyBuf, scaleBuf, groupStride, keys.capacity(), dim, queryBuf, 0, 0, new OpenClKernels.ScoringGroups(g0, g0, 1), nGroups, scale,
                    count - 1, 1, scoreBuf, count, 1);
            scoreBuf.read(0, out, 0, count);
        }
    }

    /** The min(k, to−from) best positions of scores[from..to), ascending (as TopKSelection.select), by the given kernel. */
    static int topK(OpenClKernels k, OpenClKernels.Form kernel, float[] scores, int from, int to, int keep, int[] out, int outOff) {
        int n = to - from;
        if (keep <= 0 || n <= 0) return 0;
        if (keep >= n) {
            for (int i = 0; i < n; i++) out[outOff + i] = from + i;
            return n;
        }
        ClContext ctx = k.context();
        try (ClBuffer scoreBuf = ctx.buffer((long) to * 4, "scores");
             ClBuffer budgetBuf = ctx.buffer(16, "budgets");
             ClBuffer indexBuf = ctx.buffer((long) to * 4, "indices");
             ClBuffer countBuf = ctx.buffer(4, "counts")) {
            scoreBuf.write(scores, 0, to, 0);
            // Candidates from..to-1, no recent positions: recentStart = to = p + 1.
            budgetBuf.write(new int[]{from, to, keep, to - 1}, 0, 4, 0);
            k.runTopK(kernel, scoreBuf, to, 1, budgetBuf, indexBuf, to, countBuf, 1);
            indexBuf.read(from, out, outOff, keep);
            return keep;
        }
    }

    /**
     * Attention of heads 0..heads−1 over the positions indices[0..count) (as SparseAttentionKernel.attend), the caches
     * stored on the device as {@code kv} (F16: each value rounded to half), by the kernel of the given form.
     */
    static void sparseAttention(OpenClKernels k, OpenClKernels.Form form, float[] q, int qOff, int heads, float[] keyCache, float[] valueCache, int kvDim, int kvOff,
                                int headSize, int[] indices, int count, float[] out, int outOff, KeyPrecision kv) {
        int rows = 0;
        for (int j = 0; j < count; j++) rows = Math.max(rows, indices[j] + 1);
        // The caches are uploaded from kvOff on, so that the kernel's KV head 0 is the caller's (kvOff / headSize).
        int kvElements = Math.max(0, Math.min(keyCache.length - kvOff, (rows - 1) * kvDim + headSize));
        int qDim = heads * headSize;
        ClContext ctx = k.context();
        try (ClBuffer qBuf = ctx.buffer((long) qDim * 4, "queries");
             ClBuffer kBuf = ctx.buffer((long) kvElements * OpenClKernels.keyBytes(kv), "keys");
             ClBuffer vBuf = ctx.buffer((long) kvElements * OpenClKernels.keyBytes(kv), "values");
             ClBuffer indexBuf = ctx.buffer((long) count * 4, "indices");
             ClBuffer countBuf = ctx.buffer(4, "counts");
             ClBuffer weightBuf = ctx.buffer((long) heads * count * 4, "weights");
             ClBuffer outBuf = ctx.buffer((long) qDim * 4, "output")) {
            qBuf.write(q, qOff, qDim, 0);
            short[] scratch = kv == KeyPrecision.F16 ? new short[OpenClKernels.HALF_CHUNK] : null;
            OpenClKernels.writeMirror(kBuf, kv, keyCache, kvOff, kvElements, 0, scratch);
            OpenClKernels.writeMirror(vBuf, kv, valueCache, kvOff, kvElements, 0, scratch);
            indexBuf.write(indices, 0, count, 0);
            countBuf.write(new int[]{count}, 0, 1, 0);
            k.runAttention(form, qBuf, qDim, kBuf, vBuf, kv, kvDim, headSize, heads, heads, 1, indexBuf, count, countBuf, weightBuf, count,
                    (float) (1.0 / Math.sqrt(headSize)), outBuf, heads, 1);
            outBuf.read(0, out, outOff, qDim);
        }
    }

    /**
     * quantize_keys.cl on keys[n][groups·d'] (positions firstPos..firstPos+n-1), read back into {@code into}
     * (a store of those groups and d', with room for the positions): what the device stores, as the CPU's raw arrays.
     */
    static void quantize(OpenClKernels k, float[] keys, int n, int firstPos, BlockedVectorStore into) {
        ClContext ctx = k.context();
        int groups = into.groups(), dim = into.dim(), groupStride = OpenClKernels.groupLength(into), end = firstPos + n;
        try (ClBuffer src = ctx.buffer((long) n * groups * dim * 4, "keys to quantize");
             ClBuffer keyBuf = ctx.buffer((long) groups * groupStride * OpenClKernels.keyBytes(into.precision()), "quantized keys");
             ClBuffer scaleBuf = ctx.buffer((long) groups * into.capacity() * 4, "key scales")) {
            src.write(keys, 0, n * groups * dim, 0);
            // Earlier positions of the blocks come from the store, so that only the new positions can differ.
            OpenClKernels.uploadKeys(into, 0, end, keyBuf, scaleBuf, groupStride, into.capacity());
            k.runQuantize(into.precision(), src, groups * dim, dim, groups, keyBuf, scaleBuf, groupStride, into.capacity(), firstPos, n);
            OpenClKernels.downloadKeys(into, end, keyBuf, scaleBuf, groupStride, into.capacity());
        }
    }
}
