package io.github.tokenbutler.plugin.opencl;

import io.github.tokenbutler.plugin.predictor.BlockedVectorStore;

/**
 * The per-token kernels of sparse decoding, one call each, with the CPU's semantics: what a backend must compute
 * so that it can stand in for the Vector API path. The tests run every implementation against the plain
 * references; {@link OpenClKernels} is the OpenCL one (the CPU one lives in the tests as an adapter over
 * BlockedVectorStore, TopKSelection and SparseAttentionKernel).
 */
public interface TokenKernels extends AutoCloseable {
    /** Which backend and device, for test names and messages. */
    String name();

    /**
     * out[t] = scale · Σ_{g0 ≤ g < g0+nGroups} q[qOff + (g−g0)·d' ..] · key(g, t), for t &lt; count (as
     * {@link BlockedVectorStore#dotScoresSum}).
     */
    void importanceScores(BlockedVectorStore keys, int g0, int nGroups, float[] q, int qOff, int count, float scale, float[] out);

    /** The min(k, to−from) best positions of scores[from..to), ascending (as TopKSelection.select). */
    int topK(float[] scores, int from, int to, int k, int[] out, int outOff);

    /** Attention of heads 0..heads−1 over the positions indices[0..count) (as SparseAttentionKernel.attend). */
    void sparseAttention(float[] q, int qOff, int heads, float[] keyCache, float[] valueCache, int kvDim, int kvOff,
                         int headSize, int[] indices, int count, float[] out, int outOff);

    @Override void close();
}
