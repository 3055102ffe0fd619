package io.github.tokenbutler.plugin.kernel;

import io.github.tokenbutler.runtime.Llama3.DenseAttention;
import io.github.tokenbutler.runtime.Llama3.KvRows;

/**
 * Attention of one or more query heads over a list of key positions: gather the K rows, scaled dot products,
 * softmax, weighted sum of the gathered V rows. The attention weights stay in the caller's buffer (H2O adds
 * them up).
 *
 * <p>The arithmetic is the runtime's {@link DenseAttention#attendGroup}, which this delegates to: the dense
 * path runs the same code with every position, so the full index list gives dense attention bit for bit (a
 * kernel of our own would have to repeat its operation order step for step). The heads of a KV group that
 * share one selection go together, so each gathered K and V row is read from memory once for the group.
 */
public final class SparseAttentionKernel {
    private SparseAttentionKernel() {}

    /**
     * Heads h = 0..heads-1, all attending the same key positions.
     * @param qOff         query of head h at q[qOff + h*headSize ..]
     * @param kvOff        offset of the heads' KV head inside a cache row (kvHead * headSize)
     * @param indices      key positions, ascending; indices[0..count)
     * @param weights      receives head h's attention weights at weights[h*weightStride + j], j < count
     * @param weightStride at least count
     * @param outOff       output of head h at out[outOff + h*headSize ..] (overwritten)
     */
    public static void attend(float[] q, int qOff, int heads, KvRows keys, KvRows values, int kvOff,
                              int headSize, int[] indices, int count, float[] weights, int weightStride, float[] out, int outOff) {
        DenseAttention.attendGroup(q, qOff, heads, keys, values, kvOff, headSize, indices, count,
                weights, weightStride, out, outOff);
    }
}
